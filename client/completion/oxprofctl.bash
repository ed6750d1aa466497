# bash completion for oxprofctl                              -*- shell-script -*-
# Installed as share/bash-completion/completions/oxprofctl (client/CMakeLists.txt).
# Keep the lists in step with `oxprofctl help COMMAND`.

_oxprofctl()
{
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="status start stop pause unpause reset query record help version"
	local global="--socket --json --help --version"

	# The command: the first word that is not an option or an option's value.
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--socket | --pid | --exe | --thread | --hz | --mode | --depth | --format | --by | --sort | --limit | -o | --output)
			((i++)) ;;
		--) break ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	# record: after "--" (or after CMD), complete CMD and its arguments.
	if [[ $cmd == record ]]; then
		local j
		for ((j = i + 1; j < COMP_CWORD; j++)); do
			case ${COMP_WORDS[j]} in
			--hz | --mode | --depth | --format | --limit | -o | --output | --socket) ((j++)) ;;
			-*) [[ ${COMP_WORDS[j]} == -- ]] && { j=$((j + 1)); break; } ;;
			*) break ;;
			esac
		done
		if ((j < COMP_CWORD)) && declare -F _command_offset >/dev/null; then
			_command_offset "$j"
			return
		fi
	fi

	case $prev in
	--socket | -o | --output)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--format)
		if [[ $cmd == record ]]; then
			COMPREPLY=($(compgen -W "folded json pprof html" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "table json folded" -- "$cur"))
		fi
		return ;;
	--by) COMPREPLY=($(compgen -W "function module process exe thread stack" -- "$cur")); return ;;
	--sort) COMPREPLY=($(compgen -W "self total" -- "$cur")); return ;;
	--mode) COMPREPLY=($(compgen -W "cpu wall" -- "$cur")); return ;;
	--pid) COMPREPLY=($(compgen -W "$(oxprofctl --json status 2>/dev/null |
		sed -n 's/^ *"pid": \([0-9]*\).*/\1/p')" -- "$cur")); return ;;
	--hz | --depth | --limit | --exe | --thread) return ;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts=
	case $cmd in
	start) opts="--hz --mode --depth --pid --exe" ;;
	stop | pause | unpause) opts="--pid --exe" ;;
	query) opts="--format --by --sort --limit --wide --pid --exe --thread" ;;
	record) opts="--hz --mode --depth -o --format --limit --" ;;
	help)
		[[ $cur != -* ]] && { COMPREPLY=($(compgen -W "$commands" -- "$cur")); return; } ;;
	esac
	COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
} &&
	complete -F _oxprofctl oxprofctl
