#!/bin/sh
# krb5-setup.sh DIR [PORT]
#
# Creates a throwaway MIT Kerberos realm POSTERN.TEST in DIR, listening on
# 127.0.0.1:PORT (default 17088, UDP and TCP), and starts krb5kdc in the
# background (its pid in DIR/kdc.pid). It makes:
#   DIR/krb5.conf        client configuration (export KRB5_CONFIG=DIR/krb5.conf)
#   DIR/kdc.conf         KDC configuration
#   DIR/imap.keytab      service keytab for imap/localhost@POSTERN.TEST and
#                        pop/localhost@POSTERN.TEST
#   principals alice@POSTERN.TEST (password "alice-pw") and
#              bob/admin@POSTERN.TEST (password "bob-pw")
# Needs Debian's krb5-kdc, krb5-admin-server and krb5-user. Used by the
# GSSAPI tests of internal/auth; stop with: kill "$(cat DIR/kdc.pid)".
set -eu

dir=${1:?usage: krb5-setup.sh DIR [PORT]}
port=${2:-17088}
realm=POSTERN.TEST
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

cat >"$dir/krb5.conf" <<CONF
[libdefaults]
	default_realm = $realm
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1
	default_ccache_name = FILE:$dir/ccache
[realms]
	$realm = {
		kdc = 127.0.0.1:$port
	}
[domain_realm]
	localhost = $realm
CONF

cat >"$dir/kdc.conf" <<CONF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$port
	kdc_tcp_listen = 127.0.0.1:$port
[realms]
	$realm = {
		database_name = $dir/principal
		key_stash_file = $dir/stash
		acl_file = $dir/kadm5.acl
		max_life = 1h
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
	}
[logging]
	kdc = FILE:$dir/kdc.log
CONF
: >"$dir/kadm5.acl"

export KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf"
kdb5_util create -s -r "$realm" -P "master-$$-pw" >"$dir/setup.log" 2>&1
kadmin.local -r "$realm" -q "addprinc -pw alice-pw alice" >>"$dir/setup.log" 2>&1
kadmin.local -r "$realm" -q "addprinc -pw bob-pw bob/admin" >>"$dir/setup.log" 2>&1
kadmin.local -r "$realm" -q "addprinc -randkey imap/localhost" >>"$dir/setup.log" 2>&1
kadmin.local -r "$realm" -q "addprinc -randkey pop/localhost" >>"$dir/setup.log" 2>&1
kadmin.local -r "$realm" -q "ktadd -k $dir/imap.keytab imap/localhost pop/localhost" >>"$dir/setup.log" 2>&1

krb5kdc -r "$realm" -P "$dir/kdc.pid" >>"$dir/setup.log" 2>&1

# Wait (at most 10 s) for the KDC to listen.
i=0
while [ $i -lt 100 ]; do
	if [ -s "$dir/kdc.pid" ] && grep -q "commencing operation" "$dir/kdc.log" 2>/dev/null; then
		echo "KDC for $realm on 127.0.0.1:$port, pid $(cat "$dir/kdc.pid")"
		exit 0
	fi
	sleep 0.1
	i=$((i + 1))
done
echo "krb5kdc did not start; see $dir/kdc.log and $dir/setup.log" >&2
exit 1
