#!/usr/bin/env bash
# Packaging: the man page docs/minivmm.1, the bash completion
# vmm/minivmm-completion.bash and `make install`/`make uninstall`.
#   - every option and sub-option `minivmm --help` prints is in the man page,
#     and so is every exit status of --help; groff renders it without a
#     warning;
#   - the completion offers every long option of --help and completes fixed
#     choices, sub-options, files and `minivmm ctl` commands;
#   - `make install DESTDIR=... PREFIX=...` installs the binary, the man page
#     and the completion, and `make uninstall` removes them.
# No VM; a few seconds.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
LABEL=packaging
MINIVMM=${MINIVMM:-./minivmm}
MAN=docs/minivmm.1
COMPLETION=vmm/minivmm-completion.bash
failed=0
pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}
if [ ! -x "$MINIVMM" ]; then
	echo "FAIL: $LABEL: $MINIVMM missing (make)"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$MINIVMM" --help >"$tmp/help"

# ---- the man page covers --help ----
# The page as text: rendered by groff (wide lines, no hyphenation, no
# bold/underline), else its source with roff's escapes removed.
if command -v groff >/dev/null; then
	groff -man -Tascii -P-bou -rLL=300n -rHY=0 "$MAN" >"$tmp/man.txt" 2>/dev/null
else
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(..//g' "$MAN" >"$tmp/man.txt"
fi
missing=()
# Long and short options.
while IFS= read -r opt; do
	grep -qF -- "$opt" "$tmp/man.txt" || missing+=("$opt")
done < <(grep -oE '(^|[ ,\[])--?[a-zA-Z][a-zA-Z-]*' "$tmp/help" | sed 's/^[ ,[]//' | sort -u)
# Sub-options: the indented "KEY=..." or "KEY" words under --disk, --net, --cpu-affinity.
while IFS= read -r key; do
	grep -qE -- "(^|[^a-z])$key" "$tmp/man.txt" || missing+=("sub-option $key")
done < <(sed -n 's/^                           \([a-zA-Z][a-zA-Z0-9_]*=\{0,1\}\).*/\1/p' "$tmp/help" | sort -u)
n_opts=$(grep -oE '(^|[ ,\[])--?[a-zA-Z][a-zA-Z-]*' "$tmp/help" | sort -u | wc -l)
if [ ${#missing[@]} = 0 ] && [ "$n_opts" -ge 20 ]; then
	pass "man page: every one of the $n_opts options of --help and their sub-options"
else
	fail "man page lacks: ${missing[*]} (of $n_opts options in --help)"
fi
# Exit statuses: each number --help lists, and the names of lib/exit_status.sh.
missing=()
while IFS= read -r st; do
	grep -qE "^\.BI? $st([^0-9]|\$)" "$MAN" || missing+=("$st")
done < <(sed -n '/^Exit status:/,$ s/^  \([0-9]\{1,3\}\)[ +-].*/\1/p' "$tmp/help")
for v in ERROR USAGE RESET TRIPLE_FAULT CONSOLE API_STOP SECCOMP; do
	var=EXIT_STATUS_$v
	grep -qE "^\.B ${!var}\$" "$MAN" || missing+=("$var=${!var}")
done
[ ${#missing[@]} = 0 ] && pass "man page: every exit status of --help and vm.h" ||
	fail "man page: exit statuses missing from EXIT STATUS: ${missing[*]}"
grep -q 'Ctrl\\-A x' "$MAN" && grep -q 'Ctrl\\-A h' "$MAN" && grep -q 'Ctrl-A x quit, Ctrl-A h help' "$tmp/help" &&
	pass "man page and --help: the Ctrl-A keys" || fail "Ctrl-A keys missing from the man page or --help"
if command -v groff >/dev/null; then
	warnings=$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)
	lines=$(groff -man -Tutf8 "$MAN" 2>/dev/null | wc -l)
	if [ -z "$warnings" ] && [ "$lines" -gt 100 ]; then
		pass "man page: groff -man -ww renders $lines lines without a warning"
	else
		fail "man page: groff says: $warnings ($lines lines)"
	fi
else
	fail "man page: groff not installed (groff-base, make deps)"
fi

# ---- bash completion ----
# complete_line LINE: what the completion offers with the cursor at the end.
complete_line() {
	bash -c '
		. "$1"
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"$2"
		COMP_CWORD=${#COMP_WORDS[@]}
		_minivmm
		printf "%s\n" "${COMPREPLY[@]}" | sort' sh "$COMPLETION" "$1"
}
# expect_completion LINE EXPECTED...: exactly these candidates (any order).
expect_completion() {
	local line=$1 got want
	shift
	got=$(complete_line "$line" | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	[ "$got" = "$want" ] && pass "completion: '$line' -> ${got:-nothing}" ||
		fail "completion: '$line' -> '$got', expected '$want'"
}
missing=()
offered=$(complete_line "minivmm --")
while IFS= read -r opt; do
	grep -qxF -- "$opt" <<<"$offered" || missing+=("$opt")
done < <(grep -oE -- '--[a-z][a-z-]*' "$tmp/help" | sort -u)
[ ${#missing[@]} = 0 ] && pass "completion: 'minivmm --' offers every long option of --help" ||
	fail "completion does not offer: ${missing[*]}"
expect_completion "minivmm --cons" --console
expect_completion "minivmm --console " file: none stdio
expect_completion "minivmm --console=n" none
expect_completion "minivmm --seccomp o" off on
expect_completion "minivmm --memory-backend h" hugetlb
expect_completion "minivmm --cpu-profile " auto compat host
expect_completion "minivmm --disk vm.img,c" vm.img,cache=none vm.img,cache=writeback
expect_completion "minivmm --disk vm.img,ro,e" vm.img,ro,engine=io_uring vm.img,ro,engine=sync
expect_completion "minivmm --net user,h" user,hostfwd=tcp:: user,hostfwd=udp::
expect_completion "minivmm --net mvtap0,mo" mvtap0,model=virtio mvtap0,model=e1000
expect_completion "minivmm ctl /tmp/vm.sock st" stats status stop
expect_completion "minivmm c" ctl
mkdir "$tmp/dir"
: >"$tmp/vmlinux-test"
expect_completion "minivmm --kernel $tmp/vmlinux-t" "$tmp/vmlinux-test"
expect_completion "minivmm --initrd $tmp/di" "$tmp/dir/"
# After "file:" bash replaces only the part after the ':' (COMP_WORDBREAKS).
expect_completion "minivmm --console file:$tmp/vm" "$tmp/vmlinux-test"
expect_completion "minivmm --stats=$tmp/vm" "$tmp/vmlinux-test"

# ---- make install / uninstall ----
dest=$tmp/dest
# -o: never rebuild the binary under test (it may be ./minivmm-asan).
if make -s --no-print-directory -o "$MINIVMM" install DESTDIR="$dest" PREFIX=/opt/mv \
	INSTALL_BIN="$MINIVMM" >"$tmp/install.log" 2>&1; then
	ok=1
	for f in bin/minivmm:755 share/man/man1/minivmm.1:644 share/bash-completion/completions/minivmm:644; do
		mode=$(stat -c %a "$dest/opt/mv/${f%:*}" 2>/dev/null)
		[ "$mode" = "${f#*:}" ] || {
			fail "make install: $dest/opt/mv/${f%:*} mode '${mode:-missing}', expected ${f#*:}"
			ok=0
		}
	done
	cmp -s "$MAN" "$dest/opt/mv/share/man/man1/minivmm.1" || ok=0
	"$dest/opt/mv/bin/minivmm" --version | grep -q '^minivmm ' || ok=0
	[ $ok = 1 ] && pass "make install DESTDIR PREFIX=/opt/mv: bin/minivmm, share/man/man1/minivmm.1, share/bash-completion/completions/minivmm"
	make -s --no-print-directory uninstall DESTDIR="$dest" PREFIX=/opt/mv >>"$tmp/install.log" 2>&1
	left=$(find "$dest" -type f | sed "s|^$dest||")
	[ -z "$left" ] && pass "make uninstall removes every file make install put there" ||
		fail "make uninstall left: $left"
else
	fail "make install failed: $(tail -5 "$tmp/install.log")"
fi

[ "$failed" = 0 ]
