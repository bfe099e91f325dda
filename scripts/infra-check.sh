#!/usr/bin/env bash
# Validate infra/: cfn-lint (zero errors and zero warnings), checkov (every finding fixed or
# suppressed in the template with a reason), parliament over the template's IAM policies (every
# finding explained in infra/parliament-allowlist.yaml), bash syntax of the deploy scripts, and
# the pytest tests in tests/infra/ (moto emulator on 127.0.0.1). Exits non-zero if any step fails; runs
# every step so one report shows all failures.
#
# Tools: cfn-lint, parliament, moto and pytest come from $ROOT/.venv (scripts/bootstrap-python.sh installs
# every scripts/requirements-*.txt there). checkov lives in its own venv, .tools/checkov-venv,
# from infra/requirements-checkov.txt, because it pins an old boto3 the project venv cannot use;
# the aws CLI the undeploy tests run lives in .tools/awscli-venv (infra/requirements-awscli.txt).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
CHECKOV_VENV="$ROOT/.tools/checkov-venv"
CHECKOV_REQS="$ROOT/infra/requirements-checkov.txt"

log() { printf '\n== infra-check: %s\n' "$*"; }
die() { printf 'infra-check: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------- tools
if [ -x "$ROOT/scripts/bootstrap-python.sh" ]; then
    "$ROOT/scripts/bootstrap-python.sh" || die "scripts/bootstrap-python.sh failed"
else
    # Fallback until/unless the shared bootstrap exists: our own requirements only.
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" || die "cannot create $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$ROOT/scripts/requirements-infra.txt" || die "pip install into $VENV failed"
fi

# tool_venv NAME REQUIREMENTS: a venv of its own under .tools/, rebuilt when the requirements
# (or the interpreter) change.
tool_venv() {
    local venv="$ROOT/.tools/$1" reqs="$2"
    local stamp="$venv/.ecs-drain-requirements.sha256"
    local want
    want="$({ "$PYTHON" -c 'import sys; print(sys.version)'; cat "$reqs"; } | sha256sum | cut -d' ' -f1)"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    log "installing $(basename "$reqs") into .tools/$1"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$PYTHON" -m venv "$venv" || die "cannot create $venv"
    local pip_log
    pip_log="$(mktemp)"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            -r "$reqs" >"$pip_log" 2>&1; then
        cat "$pip_log" >&2
        rm -f "$pip_log"
        die "pip install of $reqs failed"
    fi
    rm -f "$pip_log"
    printf '%s\n' "$want" >"$stamp"
}

tool_venv checkov-venv "$CHECKOV_REQS"
# The aws CLI the undeploy tests run (tests/infra/test_deploy_scripts.py): its own venv, since
# awscli pins a botocore of its own; nothing is taken from the machine.
tool_venv awscli-venv "$ROOT/infra/requirements-awscli.txt"
export ECS_DRAIN_AWS_CLI="$ROOT/.tools/awscli-venv/bin/aws"

failed=()

# ---------------------------------------------------------------- cfn-lint
# Exit status is a bit mask (2 errors, 4 warnings, 8 informational): anything but 0 fails.
log "cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}') infra/template.yaml"
if "$VENV/bin/cfn-lint" --format parseable infra/template.yaml; then
    echo "cfn-lint: no errors, no warnings"
else
    failed+=("cfn-lint")
fi

# ---------------------------------------------------------------- checkov
# --skip-download: no calls to the vendor's platform (no network needed or wanted).
log "checkov $("$CHECKOV_VENV/bin/checkov" --version) on infra/"
if "$CHECKOV_VENV/bin/checkov" --directory infra --framework cloudformation --skip-download \
        --quiet --compact; then
    echo "checkov: no failed checks"
else
    failed+=("checkov")
fi

# ---------------------------------------------------------------- IAM policy linter
# parliament over every IAM policy of the template, rendered for one representative parameter
# set; each finding must be explained in infra/parliament-allowlist.yaml.
log "parliament $("$VENV/bin/python" -m pip show parliament 2>/dev/null | awk '/^Version:/{print $2}') (tests/infra/policy_lint.py)"
if ! "$VENV/bin/python" tests/infra/policy_lint.py; then
    failed+=("parliament")
fi

# ---------------------------------------------------------------- scripts
log "bash -n infra/*.sh"
for script in infra/*.sh; do
    bash -n "$script" || failed+=("bash -n $script")
done

# ---------------------------------------------------------------- tests
log "pytest tests/infra"
if ! "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/infra; then
    failed+=("pytest tests/infra")
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'infra-check: FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
echo "infra-check: all passed (cfn-lint, checkov, parliament, scripts, tests/infra)"
