#!/usr/bin/env bash
# Makes the keys and certificates of an ALUA pair's TLS peer link (docs/security.md
# "Peer link") with the openssl command line:
#
#   scripts/pair-keys.sh DIR [--days N]
#
# DIR/node0.key, DIR/node0.crt, DIR/node1.key, DIR/node1.crt: one self-signed certificate per
# node (ECDSA P-256, CN stmf-node0 / stmf-node1, valid N days, default 3650). Each node is
# configured with its own cert and key and pinned to the other's certificate:
#   node 0: "tls": {"cert": "DIR/node0.crt", "key": "DIR/node0.key", "peer_cert": "DIR/node1.crt"}
#   node 1: "tls": {"cert": "DIR/node1.crt", "key": "DIR/node1.key", "peer_cert": "DIR/node0.crt"}
# The same files serve the stmfproxy relays (--tls-cert, --tls-key, --tls-peer-cert).
# Keys are written mode 0600; copy each node's key only to that node. Existing files are kept
# (run it again on a new DIR to renew).
set -euo pipefail
dir=${1:?"usage: pair-keys.sh DIR [--days N]"}
shift
days=3650
while [ $# -gt 0 ]; do
  case "$1" in
    --days) days=$2; shift 2 ;;
    *) echo "pair-keys.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "pair-keys.sh: the openssl command is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
for n in 0 1; do
  key=$dir/node$n.key crt=$dir/node$n.crt
  [ -s "$key" ] && [ -s "$crt" ] && continue
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null)
  openssl req -new -x509 -key "$key" -out "$crt" -days "$days" -subj "/CN=stmf-node$n" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
done
echo "$dir/node0.crt $dir/node0.key $dir/node1.crt $dir/node1.key"
