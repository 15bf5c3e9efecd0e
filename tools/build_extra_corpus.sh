#!/usr/bin/env bash
# Builds a second labelled library of REAL, freely licensed music for TRAINING the bundled model:
# soundtracks of Debian (main) game packages that are NOT in the dev corpus, so the dev corpus
# (shared/tools/build_dev_corpus.sh) stays a test set of sources the model never heard.
#
#   tools/build_extra_corpus.sh [ROOT]      (default ROOT: /tmp/cbrec-extra-corpus)
#
# Result: ROOT/library/<source>/<track>.<ext>  (files copied as shipped: ogg, mp3, flac, ...)
#         ROOT/labels.tsv                      (relative path <TAB> source <TAB> duration seconds)
#         ROOT/licences.tsv                    (source <TAB> package <TAB> version <TAB> licence lines)
# A track's "source" is the game it ships with. Tracks under 30 s (jingles) are skipped.
# Licences: every package is from Debian main (DFSG-free); its copyright file is kept under
# ROOT/x/<package>/usr/share/doc and summarised in licences.tsv. Idempotent; no root needed
# (apt-get download + dpkg-deb -x), ffprobe from ffmpeg. About 2 GB of downloads.
set -euo pipefail
ROOT=${1:-/tmp/cbrec-extra-corpus}
[ -f "$ROOT/labels.tsv" ] && { echo "$ROOT/labels.tsv"; exit 0; }
mkdir -p "$ROOT/debs" "$ROOT/x" "$ROOT/library"
PKGS="wesnoth-1.16-music asc-music drascula-music hyperrogue-music nexuiz-music planetblupi-music-ogg
singularity-music warzone2100-music frozen-bubble-data pingus-data neverball-data lincity-ng-data
teeworlds-data freedink-data pushover-data trigger-rally-data caveexpress-data scorched3d-data
btanks-data trackballs-data flare-game openclonk-data freeorion-data fretsonfire-songs-muldjord
fretsonfire-songs-sectoid lugaru-data freecol torus-trooper-data rrootage-data tumiki-fighters-data
parsec47-data gunroar-data titanion-data mu-cade-data funnyboat seahorse-adventures solarwolf
ufoai-music unknown-horizons endless-sky-data"
cd "$ROOT/debs"
for p in $PKGS; do
  ls ./"${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p" >/dev/null 2>&1 || echo "skipped $p (not downloadable)" >&2
done
for d in ./*.deb; do n=$(basename "${d%%_*}"); [ -d "$ROOT/x/$n" ] || { mkdir -p "$ROOT/x/$n"; dpkg-deb -x "$d" "$ROOT/x/$n"; }; done
python3 - "$ROOT" <<'PY'
import glob, os, re, shutil, subprocess, sys, zipfile
root = sys.argv[1]; lib = os.path.join(root, 'library')
music = re.compile(r'(music|/mus/|soundtrack|/bgm/|/songs?/|/tunes/|/cdtracks/|/ogg/)', re.I)
AUDIO = ('ogg', 'mp3', 'opus', 'flac', 'wv')
EXTRA = {'frozen-bubble-data': r'zik', 'parsec47-data': r'/sounds/ptn', 'funnyboat': r'/data/[^/]+[.]ogg$',
         'freeorion-data': r'/data/sound/[^/]+[.]ogg$'}                      # music kept outside music folders
STEMS = {'guitar', 'rhythm', 'drums', 'bass', 'preview', 'vocals', 'keys'}   # Frets on Fire stems
for pk in glob.glob(os.path.join(root, 'x', '*', '**', '*.pk3'), recursive=True):   # zip archives of game data
    dest = pk + '.d'
    if not os.path.isdir(dest):
        with zipfile.ZipFile(pk) as z:
            z.extractall(dest, [n for n in z.namelist() if music.search('/' + n) and n.lower().endswith(AUDIO)])
def source_of(pkg):
    return re.sub(r'-(\d+\.\d+-)?(music-ogg|music|data|game)$', '', pkg).replace('wesnoth-1.16', 'wesnoth')
rows, lic = {}, []
for pkg in sorted(os.listdir(os.path.join(root, 'x'))):
    src = source_of(pkg)
    base = os.path.join(root, 'x', pkg)
    every = pkg.endswith(('-music', '-music-ogg'))          # a music package: every audio file is music
    files = sorted(f for f in glob.glob(os.path.join(base, '**', '*'), recursive=True)
                   if os.path.isfile(f) and not os.path.islink(f) and (every or music.search(f[len(base):])
                                                                 or re.search(EXTRA.get(pkg, '^$'), f[len(base):]))
                   and f.rsplit('.', 1)[-1].lower() in AUDIO
                   and os.path.splitext(os.path.basename(f))[0].lower() not in STEMS)
    kept = 0
    for f in files:
        probe = subprocess.run(['ffprobe', '-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', f],
                               capture_output=True, text=True).stdout.strip()
        dur = float(probe) if probe and probe != 'N/A' else 0.0
        if dur < 30:
            continue
        rel = f'{src}/{os.path.basename(f)}'
        if rel in rows:          # generic names (song.ogg): prefix the folder
            rel = f'{src}/{os.path.basename(os.path.dirname(f))}-{os.path.basename(f)}'
        if rel in rows:
            continue
        os.makedirs(os.path.join(lib, src), exist_ok=True)
        out = os.path.join(lib, rel)
        if not os.path.exists(out):
            shutil.copyfile(f, out)
        rows[rel] = (rel, src, round(dur, 1))
        kept += 1
    copyright_files = glob.glob(os.path.join(base, 'usr/share/doc/*/copyright'))
    text = open(copyright_files[0], errors='replace').read() if copyright_files else ''
    licences = sorted({m.strip() for m in re.findall(r'^License:\s*(.+)$', text, re.M)})
    if not licences:           # old-style copyright files: name the licences the text mentions
        known = {'GPL': r'GNU General Public License', 'CC-BY-SA': r'Attribution[ -]?Share[ -]?Alike',
                 'CC-BY': r'Creative Commons Attribution(?![ -]?Share)', 'BSD-like': r'Redistribution and use'}
        licences = [name for name, pat in known.items() if re.search(pat, text, re.I)] or ['see copyright file']
    version = glob.glob(os.path.join(root, 'debs', pkg + '_*.deb'))
    version = os.path.basename(version[0]).split('_')[1] if version else '?'
    if kept:
        lic.append((src, pkg, version, '; '.join(licences)))
    print(f'{pkg}: {kept} tracks', file=sys.stderr)
with open(os.path.join(root, 'labels.tsv'), 'w') as fh:
    for r in rows.values():
        fh.write('\t'.join(map(str, r)) + '\n')
with open(os.path.join(root, 'licences.tsv'), 'w') as fh:
    for r in lic:
        fh.write('\t'.join(r) + '\n')
print(len(rows), 'tracks')
PY
echo "$ROOT/labels.tsv"
