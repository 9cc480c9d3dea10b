#!/usr/bin/env bash
# Fetch the third corpus (eight public documents of four kinds, from Debian's packages) into DIR.
#   bash eval/corpus3.sh DIR     then   rag ingest DIR --data-dir /tmp/rag-corpus3
# Questions: eval/corpus3_train.jsonl (the first four documents) and eval/corpus3_test.jsonl
# (the other four). Debian's archive is the only source, so the same files come back on any
# Debian 12 machine.
set -euo pipefail
dest=${1:?usage: bash eval/corpus3.sh DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
(cd "$work" && apt-get download -q debian-policy maint-guide sqlite3-doc git-doc >/dev/null 2>&1)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/x"; done
x=$work/x/usr/share/doc
# training documents
gunzip -c "$x/debian-policy/fhs/fhs-3.0.pdf.gz" >"$dest/fhs-3.0.pdf"
cp "$x/sqlite3/whentouse.html" "$dest/sqlite-when-to-use.html"
cp "$x/git-doc/gitworkflows.txt" "$dest/gitworkflows.txt"
cp /usr/share/common-licenses/GPL-3 "$dest/gpl-3.0.txt"
# test documents
cp "$x/maint-guide/maint-guide.en.pdf" "$dest/maint-guide.pdf"
cp "$x/sqlite3/quirks.html" "$dest/sqlite-quirks.html"
cp "$x/git-doc/git-bisect.txt" "$dest/git-bisect.txt"
cp /usr/share/common-licenses/Apache-2.0 "$dest/apache-2.0.txt"
ls "$dest"
