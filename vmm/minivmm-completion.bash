# shellcheck shell=bash
# bash completion for minivmm(1): its options, their fixed choices and
# sub-options (--disk PATH,ro,cache=..., --net TAP,model=...), files where a
# path goes, tap devices for --net, and `minivmm ctl SOCKET COMMAND`.
# Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/minivmm; to try it without
# installing: `. vmm/minivmm-completion.bash`.  It needs only bash, not the
# bash-completion package.  tests/integration/packaging.sh checks that it
# offers every option of `minivmm --help`.
#
# The word being completed is taken from COMP_LINE rather than COMP_WORDS,
# because bash splits words at '=' and ':' (COMP_WORDBREAKS), which would
# cut "--console=file:PATH" into pieces; the candidates are then trimmed to
# the part bash replaces.

_minivmm_options=(--kernel --initrd --cmdline --mem --cpus --disk --net --console --stats
	--hugepages --memory-backend --cpu-profile --cpu-affinity --no-acpi --api-socket
	--pidfile --dump-dtb --seccomp --verbose --help --version)

# _minivmm_add WORD PREFIX CANDIDATE...: adds to COMPREPLY the candidates that
# start with WORD, each prefixed with PREFIX.
_minivmm_add() {
	local word=$1 prefix=$2 c
	shift 2
	for c in "$@"; do
		[[ $c == "$word"* ]] && COMPREPLY+=("$prefix$c")
	done
}

# _minivmm_files WORD PREFIX: files and directories starting with WORD.
_minivmm_files() {
	local f
	while IFS= read -r f; do
		[ -d "$f" ] && f+=/
		COMPREPLY+=("$2$f")
	done < <(compgen -f -- "$1")
	compopt -o nospace 2>/dev/null
}

# _minivmm_value OPTION WORD PREFIX: the values of OPTION that start with WORD.
_minivmm_value() {
	local opt=$1 word=$2 prefix=$3 head item taps=() t
	case $opt in
	--kernel | --initrd | --stats | --api-socket | --pidfile | --dump-dtb)
		_minivmm_files "$word" "$prefix"
		;;
	--console)
		if [[ $word == file:* ]]; then
			_minivmm_files "${word#file:}" "${prefix}file:"
		else
			_minivmm_add "$word" "$prefix" stdio none file:
			[[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} == *file: ]] && compopt -o nospace 2>/dev/null
		fi
		;;
	--memory-backend) _minivmm_add "$word" "$prefix" anon memfd hugetlb ;;
	--cpu-profile) _minivmm_add "$word" "$prefix" auto host compat ;;
	--seccomp) _minivmm_add "$word" "$prefix" on off ;;
	--cpu-affinity)
		head=${word%"${word##*,}"}
		_minivmm_add "${word##*,}" "$prefix$head" vcpus= vcpu0= io=
		compopt -o nospace 2>/dev/null
		;;
	--disk)
		if [[ $word == *,* ]]; then
			head=${word%"${word##*,}"}
			item=${word##*,}
			_minivmm_add "$item" "$prefix$head" ro cache=none cache=writeback \
				engine=io_uring engine=sync queues=
			compopt -o nospace 2>/dev/null
		else
			_minivmm_add "$word" "$prefix" vhost-user=
			_minivmm_files "$word" "$prefix"
		fi
		;;
	--net)
		if [[ $word == *,* ]]; then
			head=${word%"${word##*,}"}
			item=${word##*,}
			if [[ $word == user,* ]]; then
				_minivmm_add "$item" "$prefix$head" model=virtio model=e1000 mac= \
					hostfwd=tcp:: hostfwd=udp::
			else
				_minivmm_add "$item" "$prefix$head" model=virtio model=e1000 mac= \
					queues= ip=
			fi
			compopt -o nospace 2>/dev/null
		else
			# Existing tap devices (a tun_flags file), then the other kinds.
			for t in /sys/class/net/*; do
				[ -e "$t/tun_flags" ] && taps+=("${t##*/}")
			done
			_minivmm_add "$word" "$prefix" user vhost-user= "${taps[@]}"
		fi
		;;
	esac
}

# Options whose value is the next word (--stats takes one only after '=').
_minivmm_takes_value() {
	case $1 in
	--kernel | --initrd | --cmdline | --mem | --cpus | --disk | --net | --console | \
		--memory-backend | --cpu-profile | --cpu-affinity | --api-socket | --pidfile | --dump-dtb | --seccomp)
		return 0
		;;
	esac
	return 1
}

_minivmm() {
	local line=${COMP_LINE:0:COMP_POINT} cur prev breaks prefix reply i opt n
	local -a toks
	COMPREPLY=()
	read -ra toks <<<"$line"
	n=${#toks[@]}
	if [[ $line =~ [[:space:]]$ || $n == 0 ]]; then
		cur=
		((n > 0)) && prev=${toks[n - 1]}
	else
		cur=${toks[n - 1]}
		((n > 1)) && prev=${toks[n - 2]}
		n=$((n - 1))
	fi
	# Now toks[0..n-1] are the words before the current one.

	if ((n >= 2)) && [[ ${toks[1]} == ctl ]]; then # minivmm ctl SOCKET COMMAND
		if ((n == 2)); then
			_minivmm_files "$cur" ""
		elif ((n == 3)); then
			_minivmm_add "$cur" "" status stats pause resume stop
		elif [[ ${toks[3]} == stop ]]; then
			_minivmm_add "$cur" "" timeout_s=
			compopt -o nospace 2>/dev/null
		fi
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		for i in "${_minivmm_options[@]}"; do # an abbreviation stands for its option
			[[ $i == "$opt"* ]] && opt=$i && break
		done
		_minivmm_value "$opt" "${cur#*=}" "${cur%%=*}="
	elif [[ $cur != -* ]] && _minivmm_takes_value "${prev-}"; then
		_minivmm_value "$prev" "$cur" ""
	elif ((n == 1)) && [[ -z $cur || ctl == "$cur"* ]] && [[ $cur != -* ]]; then
		_minivmm_add "$cur" "" ctl "${_minivmm_options[@]}"
	else
		_minivmm_add "$cur" "" "${_minivmm_options[@]}" -v -h -V
	fi

	# bash replaces only the part of the word after its last '=' or ':'
	# (when they are in COMP_WORDBREAKS, as they are by default).
	breaks=
	[[ ${COMP_WORDBREAKS-=:} == *=* ]] && breaks+='='
	[[ ${COMP_WORDBREAKS-=:} == *:* ]] && breaks+=':'
	prefix=
	# shellcheck disable=SC2295 # $breaks is meant as a bracket expression
	[[ -n $breaks ]] && prefix=${cur%"${cur##*[$breaks]}"}
	if [[ -n $prefix ]]; then
		for i in "${!COMPREPLY[@]}"; do
			reply=${COMPREPLY[i]}
			COMPREPLY[i]=${reply#"$prefix"}
		done
	fi
}

complete -F _minivmm minivmm
