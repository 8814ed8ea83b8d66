#!/usr/bin/env bash
# Makes a Granary cluster's certificates with openssl: a cluster CA, and
# for each member host a certificate for both remoting (mutual TLS between
# members: --cluster-ca/--cluster-cert/--cluster-key) and the HTTP API
# (--tls-cert/--tls-key), naming the host's address or DNS name.
#
#   deploy/certs/make-certs.sh OUTDIR n1=10.0.0.1 n2=10.0.0.2 n3=node3.example.com
#
# writes OUTDIR/ca.pem and ca-key.pem (keep the key offline: it mints
# members), and OUTDIR/n1.pem, n1-key.pem, ... One member's files go to
# its host as /etc/granary/tls/ca.pem, member.pem and member-key.pem
# (deploy/systemd/granary-node.service). An existing CA in OUTDIR is
# reused, so adding a member later is the same command with its name.
# Keys are ECDSA P-256; certificates last 825 days (the CA 10 years).
# deploy/deploy_test.go runs this script and starts members with its output.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 OUTDIR NAME=HOST [NAME=HOST...]   (HOST: an IP address or a DNS name)" >&2
  exit 2
fi
out=$1; shift
mkdir -p "$out"
umask 077

if [ ! -f "$out/ca.pem" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca-key.pem"
  openssl req -x509 -new -sha256 -key "$out/ca-key.pem" -days 3650 \
    -subj "/CN=granary cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$out/ca.pem"
fi

for spec in "$@"; do
  name=${spec%%=*}
  host=${spec#*=}
  if [ -z "$name" ] || [ -z "$host" ] || [ "$name" = "$spec" ]; then
    echo "$0: bad member $spec: want NAME=HOST" >&2
    exit 2
  fi
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
    san="IP:$host"
  else
    san="DNS:$host"
  fi
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/$name-key.pem"
  openssl req -new -sha256 -key "$out/$name-key.pem" -subj "/CN=$name" -out "$out/$name.csr"
  # serverAuth: a member accepts remoting and API connections;
  # clientAuth: it dials the other members with the same certificate.
  openssl x509 -req -sha256 -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
    -CAcreateserial -days 825 -out "$out/$name.pem" \
    -extfile <(printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth,clientAuth" \
      "subjectAltName=$san")
  rm -f "$out/$name.csr"
  echo "$out/$name.pem: $name ($san)"
done
