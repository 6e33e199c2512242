#!/usr/bin/env python3
"""Validates everything under deploy/ and helm/ without a cluster, a docker daemon or helm.

Run by deploy/check.sh (which installs what it needs), itself run by scripts/test.

- images: the agent CLIs the worker image installs are exactly those the worker pins
  (worker/src/executors/mod.rs), and every place naming their binaries agrees; each
  Dockerfile is multi-stage, builds with --locked, runs with an exec-form entrypoint,
  carries the OCI labels, and pins its base images; the api and scheduler run as the
  numeric non-root user, the worker as root under tini (it builds the attempt sandbox).
- compose: the services, health checks and start-up order of a single-host stack, the
  roles each service connects as, and the split: every service without capabilities
  and non-root but the worker, which keeps exactly the sandbox's capabilities.
- deploy/k8s: every object against the Kubernetes schemas (--strict, 1.33 and the newest
  bundled), and the rules Switchyard holds its pods to (hardening, probes, RBAC, names,
  Secret file modes, no secret in a ConfigMap).
- worker pods: the Job a built switchyard-scheduler makes (`worker-job`) with the
  settings of deploy/k8s and of every chart render, against the schemas and the
  sandbox's shape (hostUsers: false, exactly the sandbox's capabilities, unmasked /proc,
  read-only root, emptyDir and 0400 Secret volumes only, no token, no plain secret);
  and mutated copies of it, which that check must refuse.
- the chart: values.yaml and ci/*.yaml against values.schema.json (and mutated values
  against it, which it must refuse); every .Values reference in a template exists; the
  chart rendered with each ci/*.yaml by a Go-template subset (gotemplate.py), its objects
  validated as above; no value left unused by every render; every value documented in
  docs/DEPLOY.md.
- settings: every config file and SWITCHYARD__ variable these produce names real keys of
  shared/src/config.rs, and, when a built switchyard-api is at hand, loads through the
  real loader (which refuses unknown keys and wrong types).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable

import jsonschema
import kubernetes_validate
import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).parent))
import gotemplate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = ROOT / "helm" / "switchyard"
DOCS = ROOT / "docs" / "DEPLOY.md"
K8S_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
IMAGE_UID = 10001

KUBERNETES_BACKEND = ROOT / "scheduler/src/capacity/kubernetes.rs"


def scheduler_rules() -> dict[tuple[str, str], set[str]]:
    """RBAC_RULES of the kubernetes backend, read from its source: (group, resource) →
    verbs. The Role of the manifests and the chart must grant exactly these; the
    scheduler's tests run against a fake API server that refuses anything else."""
    source = KUBERNETES_BACKEND.read_text()
    block = re.search(r"pub const RBAC_RULES: [^=]+= &\[(.*?)\n\];", source, re.S)
    if block is None:
        raise ValueError("no RBAC_RULES in scheduler/src/capacity/kubernetes.rs")
    rules = {}
    for group, resource, verbs in re.findall(r'\(\s*"([^"]*)",\s*"([^"]+)",\s*&\[([^\]]*)\],?\s*\)', block.group(1)):
        rules[(group, resource)] = set(re.findall(r'"([^"]+)"', verbs))
    if not rules:
        raise ValueError("RBAC_RULES in scheduler/src/capacity/kubernetes.rs lists no rule")
    return rules


SCHEDULER_RULES = scheduler_rules()

OBJECTS_RS = ROOT / "scheduler/src/capacity/kubernetes/objects.rs"


def sandbox_capabilities() -> list[str]:
    """SANDBOX_CAPABILITIES of the kubernetes backend, read from its source: the only
    capabilities a worker container (and the compose worker) may keep."""
    block = re.search(r"pub const SANDBOX_CAPABILITIES: \[&str; \d+\] = \[(.*?)\];", OBJECTS_RS.read_text(), re.S)
    if block is None:
        raise ValueError("no SANDBOX_CAPABILITIES in scheduler/src/capacity/kubernetes/objects.rs")
    return re.findall(r'"([A-Z_]+)"', block.group(1))


SANDBOX_CAPS = sandbox_capabilities()
# The uids a pod's user namespace maps are 0-65535; 65534 is nobody, 65535 the overflow.
MAX_POD_UID = 65533

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class Check:
    """Collects failures so one run reports all of them."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.warnings: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.failures.append(f"{where}: {message}")

    def expect(self, ok: bool, where: str, message: str) -> bool:
        if not ok:
            self.fail(where, message)
        return ok

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def rel(path: Path) -> str:
    """The path from the checkout's root, or whole when it lies elsewhere (a target dir)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def section(title: str) -> None:
    print(f"--- {title}", flush=True)


# --- settings: shared/src/config.rs ---------------------------------------------------


class Settings:
    """The keys of shared/src/config.rs, read from the source: a struct per section, a
    map where ids are free (secrets.keys, worker.agent_commands, ...)."""

    def __init__(self, source: str):
        self.structs: dict[str, dict[str, str]] = {}
        for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", source, re.S):
            fields = {}
            for f in re.finditer(r"^\s*pub (\w+): (.+?),\s*$", m.group(2), re.M):
                fields[f.group(1)] = f.group(2).strip()
            self.structs[m.group(1)] = fields

    def _resolve(self, type_: str) -> tuple[str, Any]:
        """('struct', name) | ('map', value type) | ('list', item type) | ('leaf', None)."""
        t = type_.strip()
        inner = re.fullmatch(r"Option<(.+)>", t)
        if inner:
            return self._resolve(inner.group(1))
        m = re.fullmatch(r"(?:std::collections::)?(?:HashMap|BTreeMap)<\s*String\s*,\s*(.+)>", t)
        if m:
            return ("map", m.group(1))
        m = re.fullmatch(r"Vec<(.+)>", t)
        if m:
            return ("list", m.group(1))
        if t in self.structs:
            return ("struct", t)
        return ("leaf", None)

    def check_path(self, parts: list[str]) -> str | None:
        """None when `parts` names a setting (or lies inside a free map); else why not."""
        type_: str = "Settings"
        for i, part in enumerate(parts):
            kind, arg = self._resolve(type_)
            if kind == "struct":
                fields = self.structs[arg]
                if part not in fields:
                    return f"{'.'.join(parts[: i + 1])} is not a setting (fields of {arg}: {', '.join(fields)})"
                type_ = fields[part]
            elif kind == "map":
                type_ = arg
            else:
                return f"{'.'.join(parts[:i])} takes no sub-keys"
        return None

    def check_tree(self, tree: dict, prefix: list[str], where: str, check: Check) -> int:
        """Checks every key of a nested settings map; returns how many leaves it checked."""
        count = 0
        for key, value in tree.items():
            path = prefix + [str(key)]
            problem = self.check_path(path)
            if problem:
                check.fail(where, problem)
                continue
            kind, arg = self._resolve(self._type_of(path))
            if isinstance(value, dict) and kind in ("struct", "map"):
                count += self.check_tree(value, path, where, check)
            elif isinstance(value, list) and kind == "list" and self._resolve(arg)[0] == "struct":
                for element in value:
                    if isinstance(element, dict):
                        count += self._check_struct(element, arg, path, where, check)
            else:
                count += 1
        return count

    def _check_struct(self, element: dict, type_: str, path: list[str], where: str, check: Check) -> int:
        fields = self.structs[type_]
        for k in element:
            if k not in fields:
                check.fail(where, f"{'.'.join(path)}[].{k} is not a setting (fields of {type_}: {', '.join(fields)})")
        return 1

    def _type_of(self, parts: list[str]) -> str:
        type_ = "Settings"
        for part in parts:
            kind, arg = self._resolve(type_)
            type_ = self.structs[arg][part] if kind == "struct" else arg
        return type_

    def secret_paths(self) -> list[list[str]]:
        """Settings typed SecretString (or maps of them), and the URLs that hold passwords."""
        out: list[list[str]] = [["database", "url"], ["database", "migration_url"], ["redis", "url"]]

        def walk(type_: str, path: list[str]) -> None:
            kind, arg = self._resolve(type_)
            if kind == "struct":
                for name, t in self.structs[arg].items():
                    if "SecretString" in t:
                        out.append(path + [name])
                    else:
                        walk(t, path + [name])

        walk("Settings", [])
        return out

    def is_secret_env(self, name: str) -> bool:
        path = self.env_path(name)
        return path is not None and any(path[: len(p)] == p for p in self.secret_paths())

    def env_path(self, name: str) -> list[str] | None:
        """SWITCHYARD__A__B → [a, b] (the loader lower-cases), None for other names."""
        if not name.startswith("SWITCHYARD__"):
            return None
        return [p.lower() for p in name[len("SWITCHYARD__") :].split("__")]


class Loader:
    """The real settings loader, through a built switchyard-api: `migrate` loads the
    settings first and only then connects (to a closed port here), so "invalid
    configuration" in its output means the settings were refused."""

    def __init__(self) -> None:
        override = os.environ.get("SWITCHYARD_CHECK_API_BIN")
        target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
        if not target.is_absolute():
            target = ROOT / target
        candidates = [Path(override)] if override else [target / "debug" / "switchyard-api", target / "release" / "switchyard-api"]
        self.binary = next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
        self.runs = 0

    def load(self, config_toml: str | None, env: dict[str, str]) -> str | None:
        """None when the settings load; else the loader's complaint."""
        return self._run(config_toml, env)

    def _run(self, config_toml: str | None, env: dict[str, str]) -> str | None:
        assert self.binary is not None
        self.runs += 1
        with tempfile.TemporaryDirectory() as tmp:
            run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_BACKTRACE": "0", "RUST_LOG": "off"}
            run_env.update(env)
            run_env["SWITCHYARD__DATABASE__MIGRATION_URL"] = "postgres://check@127.0.0.1:1/check"
            run_env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
            if config_toml is not None:
                path = Path(tmp) / "config.toml"
                path.write_text(config_toml)
                run_env["SWITCHYARD_CONFIG"] = str(path)
            else:
                run_env.pop("SWITCHYARD_CONFIG", None)
            try:
                out = subprocess.run([str(self.binary), "migrate"], env=run_env, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                return "the loader did not finish within 60 s"
        text = out.stdout + out.stderr
        if "invalid configuration" in text:
            line = next(l for l in text.splitlines() if "invalid configuration" in l)
            return line.replace("Error: ", "")
        if "running migrations" not in text:
            return f"unexpected output: {text.strip()[:300]}"
        return None


# --- kubernetes objects ---------------------------------------------------------------


def dig(value: Any, *keys: Any) -> Any:
    """value[k1][k2]…, or None where a level is missing or not a map/list."""
    for k in keys:
        if isinstance(value, dict):
            value = value.get(k)
        elif isinstance(value, list) and isinstance(k, int) and k < len(value):
            value = value[k]
        else:
            return None
    return value


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    spec = obj.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return spec.get("template", {}).get("spec")
    if kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if kind == "Pod":
        return spec
    return None


def validate_objects(objects: list[tuple[str, dict]], check: Check) -> int:
    """Schema validation (strict) against each Kubernetes version; returns objects checked."""
    for where, obj in objects:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                check.fail(where, f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} against {version}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                check.fail(where, f"no {version} schema for {obj.get('apiVersion')} {obj.get('kind')}")
    return len(objects)


def policy_checks(objects: list[tuple[str, dict]], check: Check, settings: "Settings", *, namespaced_env: Callable[[str, list[str]], None] | None = None) -> None:
    """What every set of Switchyard objects must hold to, beyond the schemas."""
    for where, obj in objects:
        meta = obj.get("metadata", {})
        name = meta.get("name", "")
        label = f"{obj.get('kind')}/{name}"
        check.expect(bool(DNS1123.match(name)) and len(name) <= 253, where, f"{label}: the name is not a DNS-1123 name")
        if obj["kind"] in ("Service", "Deployment", "Job") or obj["kind"].endswith("Policy"):
            check.expect(len(name) <= 63, where, f"{label}: longer than 63 characters")
        spec = pod_spec(obj)
        if spec is None:
            continue
        psc = spec.get("securityContext") or {}
        check.expect(psc.get("runAsNonRoot") is True, where, f"{label}: pod securityContext.runAsNonRoot is not true")
        check.expect(psc.get("runAsUser") == IMAGE_UID, where, f"{label}: pod runs as {psc.get('runAsUser')}, not the images' user {IMAGE_UID}")
        check.expect(dig(psc, "seccompProfile", "type") == "RuntimeDefault", where, f"{label}: seccompProfile is not RuntimeDefault")
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            sc = c.get("securityContext") or {}
            cl = f"{label} container {c.get('name')}"
            ports = {p.get("name") for p in c.get("ports") or []}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = dig(c, probe, "httpGet", "port")
                if isinstance(port, str):
                    check.expect(port in ports, where, f"{cl}: the {probe} uses port {port!r}, which the container does not declare")
            check.expect(sc.get("allowPrivilegeEscalation") is False, where, f"{cl}: allowPrivilegeEscalation is not false")
            check.expect(sc.get("readOnlyRootFilesystem") is True, where, f"{cl}: the root filesystem is writable")
            check.expect(dig(sc, "capabilities", "drop") == ["ALL"], where, f"{cl}: capabilities are not all dropped")
            check.expect(not sc.get("privileged"), where, f"{cl}: privileged")
            image = c.get("image", "")
            check.expect(":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), where, f"{cl}: image {image!r} is not pinned to a tag")
            check.expect("memory" in (dig(c, "resources", "limits") or {}), where, f"{cl}: no memory limit")
            check.expect("cpu" in (dig(c, "resources", "requests") or {}), where, f"{cl}: no cpu request")
            mounts = {m.get("mountPath") for m in c.get("volumeMounts") or []}
            check.expect("/tmp" in mounts, where, f"{cl}: no writable /tmp under a read-only root")
            env_names = [e.get("name") for e in c.get("env") or []]
            check.expect(len(env_names) == len(set(env_names)), where, f"{cl}: a variable is set twice")
            for e in c.get("env") or []:
                if (settings and settings.is_secret_env(e["name"])) or re.search(r"://[^/@]*:[^/@]+@", str(e.get("value", ""))):
                    check.expect("value" not in e, where, f"{cl}: {e['name']} carries a secret in plain text, not from a Secret")
            if namespaced_env:
                namespaced_env(f"{where} {cl}", env_names)
            # Only the api signs access tokens and talks to GitHub as the App.
            if not name.endswith("-api"):
                held = env_names + [ef.get("prefix", "") for ef in c.get("envFrom") or []]
                for n in held:
                    check.expect(not (n.startswith("SWITCHYARD__AUTH__SIGNING_KEYS") or n.startswith("SWITCHYARD__GITHUB__")), where, f"{cl}: holds {n}, which only the api needs")
        if obj["kind"] != "Deployment" or "scheduler" not in name:
            check.expect(spec.get("automountServiceAccountToken") is False or spec.get("serviceAccountName"), where, f"{label}: mounts a service-account token it has no use for")
        for problem in secret_volume_problems(spec):
            check.fail(where, f"{label}: {problem}")
    # A namespace that enforces a Pod Security level must admit the worker pods, whose
    # SYS_ADMIN and NET_ADMIN neither baseline nor restricted allow.
    for where, obj in objects:
        if obj["kind"] == "Namespace":
            level = dig(obj, "metadata", "labels", "pod-security.kubernetes.io/enforce")
            check.expect(level in (None, "privileged"), where, f"Namespace/{obj['metadata']['name']}: enforces {level!r}, which refuses the worker pods' sandbox capabilities")
    # Nothing secret in a ConfigMap: no secret setting as a variable or in config.toml.
    for where, obj in objects:
        if obj["kind"] != "ConfigMap":
            continue
        for key, value in (obj.get("data") or {}).items():
            check.expect(not (settings and settings.is_secret_env(key)), where, f"ConfigMap/{obj['metadata']['name']}: {key} is a secret setting")
            check.expect(not re.search(r"://[^/@\s\"]*:[^/@\s\"]+@", str(value)), where, f"ConfigMap/{obj['metadata']['name']}: {key} holds a URL with a password")
            if key.endswith(".toml") and settings:
                try:
                    tree = tomllib.loads(value)
                except tomllib.TOMLDecodeError:
                    continue
                for path in settings.secret_paths():
                    check.expect(dig(tree, *path) in (None, "", {}), where, f"ConfigMap/{obj['metadata']['name']}: {key} sets {'.'.join(path)}, a secret")
    # The api: probes on /healthz and /readyz.
    for where, obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("-api"):
            c = dig(pod_spec(obj), "containers", 0) or {}
            check.expect(dig(c, "livenessProbe", "httpGet", "path") == "/healthz", where, "api: the liveness probe is not GET /healthz")
            check.expect(dig(c, "readinessProbe", "httpGet", "path") == "/readyz", where, "api: the readiness probe is not GET /readyz")
    # RBAC: the scheduler's Role, exactly.
    for where, obj in objects:
        if obj["kind"] == "Role":
            rules = {}
            for rule in obj.get("rules", []):
                for group in rule.get("apiGroups", []):
                    for resource in rule.get("resources", []):
                        rules.setdefault((group, resource), set()).update(rule.get("verbs", []))
            check.expect(rules == SCHEDULER_RULES, where, f"Role/{obj['metadata']['name']}: rules {sorted((k, sorted(v)) for k, v in rules.items())} are not exactly the scheduler's")
        check.expect(obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"), where, f"{obj['kind']}: the scheduler's rights stay in its namespace")
    # Workers: an account without a token, and a default-deny policy.
    accounts = [o for _, o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"].endswith("-worker")]
    for a in accounts:
        check.expect(a.get("automountServiceAccountToken") is False, "ServiceAccount", f"{a['metadata']['name']}: the worker token is mounted")
    policies = [o for _, o in objects if o["kind"] == "NetworkPolicy"]
    if policies:
        deny = [p for p in policies if set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"} and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        check.expect(bool(deny), "NetworkPolicy", "no default-deny (Ingress and Egress, no rules) policy for worker pods")


def secret_volume_problems(spec: dict) -> list[str]:
    """Secret volumes readable beyond their owner: a Secret file is 0400 (or stricter),
    never group- or world-readable; Kubernetes' own default (0644) is not."""
    problems = []

    def modes(source: dict, what: str) -> None:
        mode = source.get("defaultMode")
        if mode is None or mode & 0o077:
            problems.append(f"{what}: defaultMode {oct(mode) if mode is not None else 'unset (0644)'} lets others read it; 0400")
        for item in source.get("items") or []:
            if item.get("mode") is not None and item["mode"] & 0o077:
                problems.append(f"{what}: item {item.get('key')} has mode {oct(item['mode'])}")

    for v in spec.get("volumes") or []:
        if "secret" in v:
            modes(v["secret"], f"Secret volume {v.get('name')}")
        for source in dig(v, "projected", "sources") or []:
            if "secret" in source:
                modes({"defaultMode": dig(v, "projected", "defaultMode"), **source["secret"]}, f"projected Secret in volume {v.get('name')}")
    return problems


def check_worker_pod(job: dict, settings: "Settings", expect: dict[str, str] | None = None) -> list[str]:
    """What a worker pod must hold to, beyond the schemas (docs/DEPLOY.md, "Worker pods");
    empty when it does. `expect` names the seccomp and AppArmor profile types the
    deployment configured (RuntimeDefault and Unconfined by default)."""
    expect = expect or {"seccomp": "RuntimeDefault", "apparmor": "Unconfined"}
    out: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            out.append(message)

    spec = pod_spec(job) or {}
    need(job.get("kind") == "Job", f"not a Job but {job.get('kind')}")
    need(spec.get("hostUsers") is False, "hostUsers is not false: the pod shares the node's user namespace, so its root is the node's")
    need(spec.get("automountServiceAccountToken") is False, "mounts a service-account token")
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        need(not spec.get(host), f"{host}")
    containers = spec.get("containers") or []
    need(len(containers) == 1 and not spec.get("initContainers") and not spec.get("ephemeralContainers"), "runs containers besides the worker")
    psc = spec.get("securityContext") or {}
    c = containers[0] if containers else {}
    sc = c.get("securityContext") or {}
    need(not sc.get("privileged"), "privileged")
    need(sc.get("readOnlyRootFilesystem") is True, "the root filesystem is writable")
    need(sc.get("procMount") == "Unmasked", f"procMount is {sc.get('procMount')!r}: the sandbox cannot mount a fresh /proc under a masked one")
    caps = sc.get("capabilities") or {}
    need(caps.get("drop") == ["ALL"], f"capabilities.drop is {caps.get('drop')}, not [ALL]")
    added = caps.get("add") or []
    need(sorted(added) == sorted(SANDBOX_CAPS) and len(added) == len(set(added)), f"adds capabilities {added}, not exactly the sandbox's {SANDBOX_CAPS}")
    for what, field in (("seccomp", "seccompProfile"), ("apparmor", "appArmorProfile")):
        profile = sc.get(field) or psc.get(field) or {}
        need(profile.get("type") == expect[what], f"{field} is {profile.get('type')!r}, not the configured {expect[what]!r}")
        need((profile.get("type") == "Localhost") == bool(profile.get("localhostProfile")), f"{field}: a localhostProfile exactly when Localhost")
    need(c.get("args") in (None, []) or (len(c["args"]) == 2 and c["args"][0] == "--attempt" and re.fullmatch(r"[0-9a-f-]{36}", str(c["args"][1])) is not None), f"arguments {c.get('args')}: only --attempt <id>")
    # Volumes: emptyDirs (the only writable places) and 0400 Secrets; nothing of the node.
    volumes = {}
    for v in spec.get("volumes") or []:
        sources = [k for k in v if k != "name"]
        volumes[v.get("name")] = sources
        need(sources in (["emptyDir"], ["secret"]), f"volume {v.get('name')}: {sources}: only emptyDir and Secret volumes")
    out.extend(secret_volume_problems(spec))
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
    need("/workspace" in mounts and "/tmp" in mounts, "no /workspace and /tmp emptyDirs")
    for path, m in mounts.items():
        kind = volumes.get(m.get("name"), ["?"])
        need(kind != ["secret"] or m.get("readOnly") is True, f"the Secret at {path} is mounted writable")
    # Secrets only from a Secret: never a plain value, an argument or a ConfigMap key.
    env = {e.get("name"): e for e in c.get("env") or []}
    for name, e in env.items():
        if settings.is_secret_env(name) or re.search(r"://[^/@]*:[^/@]+@", str(e.get("value", ""))):
            need("value" not in e, f"{name} carries a secret in plain text")
    for ef in c.get("envFrom") or []:
        need(set(ef) - {"prefix"} <= {"configMapRef", "secretRef"}, f"envFrom {ef}")
    value = lambda n: (env.get(n) or {}).get("value")
    uid = value("SWITCHYARD__WORKER__SANDBOX__UID_BASE")
    need(uid is not None and uid.isdigit() and 1 <= int(uid) <= MAX_POD_UID, f"the attempt uid {uid!r} is not one the pod's user namespace maps (1-{MAX_POD_UID})")
    need(value("SWITCHYARD__WORKER__SANDBOX__UID_COUNT") == "1", "more than one attempt uid in a one-attempt pod")
    for key in ("ENABLED", "NAMESPACES"):
        need(value(f"SWITCHYARD__WORKER__SANDBOX__{key}") == "true", f"SWITCHYARD__WORKER__SANDBOX__{key} is not pinned to true")
    return out


# Worker pods that check_worker_pod must refuse: each breaks one rule of the sandbox.
WORKER_MUTATIONS: list[tuple[str, Callable[[dict], None]]] = [
    ("the node's user namespace", lambda j: pod_spec(j).update({"hostUsers": True})),
    ("no hostUsers at all", lambda j: pod_spec(j).pop("hostUsers")),
    ("a capability beyond the sandbox's", lambda j: pod_spec(j)["containers"][0]["securityContext"]["capabilities"]["add"].append("SYS_PTRACE")),
    ("capabilities kept rather than dropped", lambda j: pod_spec(j)["containers"][0]["securityContext"]["capabilities"].update({"drop": []})),
    ("a privileged container", lambda j: pod_spec(j)["containers"][0]["securityContext"].update({"privileged": True})),
    ("a masked /proc", lambda j: pod_spec(j)["containers"][0]["securityContext"].update({"procMount": "Default"})),
    ("a writable root", lambda j: pod_spec(j)["containers"][0]["securityContext"].update({"readOnlyRootFilesystem": False})),
    ("a world-readable Secret file", lambda j: pod_spec(j)["volumes"].append({"name": "key", "secret": {"secretName": "github", "defaultMode": 0o644}})),
    ("a Secret file with the default mode", lambda j: pod_spec(j)["volumes"].append({"name": "key", "secret": {"secretName": "github"}})),
    ("a host path", lambda j: pod_spec(j)["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})),
    ("a service-account token", lambda j: pod_spec(j).update({"automountServiceAccountToken": True})),
    ("a database password in a plain variable", lambda j: pod_spec(j)["containers"][0]["env"].append({"name": "SWITCHYARD__DATABASE__URL", "value": "postgres://app:hunter2@db/sy"})),
    ("an attempt uid the pod does not map", lambda j: [e.update({"value": "200000"}) for e in pod_spec(j)["containers"][0]["env"] if e["name"] == "SWITCHYARD__WORKER__SANDBOX__UID_BASE"]),
    ("a sidecar", lambda j: pod_spec(j)["containers"].append(copy.deepcopy(pod_spec(j)["containers"][0]))),
]


class WorkerJobs:
    """The worker Job a built switchyard-scheduler makes (`worker-job`) under a
    deployment's settings: what its pods will really be."""

    def __init__(self) -> None:
        override = os.environ.get("SWITCHYARD_CHECK_SCHEDULER_BIN")
        target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
        if not target.is_absolute():
            target = ROOT / target
        candidates = [Path(override)] if override else [target / "debug" / "switchyard-scheduler", target / "release" / "switchyard-scheduler"]
        self.binary = next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
        self.made = 0
        self.stale = False
        if self.binary and not override:
            # A binary older than the backend's source would show yesterday's pod.
            newest = max(f.stat().st_mtime for d in ("scheduler/src", "shared/src") for f in (ROOT / d).rglob("*.rs"))
            if self.binary.stat().st_mtime < newest:
                self.stale = True
                return
        self.stale = False

    def job(self, config_toml: str | None, env: dict[str, str]) -> dict | str:
        """The Job, or why there is none."""
        assert self.binary is not None
        with tempfile.TemporaryDirectory() as tmp:
            run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_BACKTRACE": "0", "RUST_LOG": "off"}
            run_env.update(env)
            if config_toml is not None:
                path = Path(tmp) / "config.toml"
                path.write_text(config_toml)
                run_env["SWITCHYARD_CONFIG"] = str(path)
            out = subprocess.run([str(self.binary), "worker-job"], env=run_env, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            return (out.stderr or out.stdout).strip()[:400]
        self.made += 1
        return json.loads(out.stdout)


def check_worker_jobs(where: str, jobs: WorkerJobs, config_toml: str, env: dict[str, str], check: Check, settings: Settings, expect: dict[str, str] | None = None, mutate: bool = False) -> None:
    """Makes the deployment's worker Job and holds it to the schemas and the sandbox's
    shape; with `mutate`, also proves that check refuses each of WORKER_MUTATIONS."""
    if jobs.binary is None or jobs.stale:
        return
    job = jobs.job(config_toml, env)
    if not check.expect(isinstance(job, dict), where, f"switchyard-scheduler worker-job refused these settings: {job}"):
        return
    validate_objects([(f"{where} (worker-job)", job)], check)
    for problem in check_worker_pod(job, settings, expect):
        check.fail(f"{where} (worker-job)", problem)
    if mutate:
        for what, change in WORKER_MUTATIONS:
            bad = copy.deepcopy(job)
            change(bad)
            check.expect(bool(check_worker_pod(bad, settings, expect)), "deploy/check/check_manifests.py", f"check_worker_pod accepts a worker pod with {what}")


def env_checker(settings: Settings, check: Check) -> Callable[[str, list[str]], None]:
    def run(where: str, names: list[str]) -> None:
        for n in names:
            path = settings.env_path(n)
            if path is not None:
                problem = settings.check_path(path)
                check.expect(problem is None, where, f"{n}: {problem}")
    return run


# --- images ---------------------------------------------------------------------------


def parse_agents(check: Check) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """agents.txt → ({executor: (package@version, binary)}, {executor: why skipped})."""
    installed, skipped = {}, {}
    for n, line in enumerate((DEPLOY / "docker/agents.txt").read_text().splitlines(), 1):
        m = re.match(r"^#\s*skip\s+(\S+)\s+(\S+)\s+(.+)$", line)
        if m:
            skipped[m.group(1)] = m.group(3).strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if check.expect(len(parts) == 3, f"deploy/docker/agents.txt:{n}", "want: executor package@version binary"):
            installed[parts[0]] = (parts[1], parts[2])
    return installed, skipped


def pinned_agents() -> dict[str, str]:
    """The rows of AGENTS in worker/src/executors/mod.rs: executor name (as
    shared/src/executors.rs spells it) → the npm package@version it runs, or "-"."""
    table = (ROOT / "worker/src/executors/mod.rs").read_text()
    names = dict(re.findall(r'ExecutorKind::(\w+) => "([a-z-]+)",', (ROOT / "shared/src/executors.rs").read_text()))
    pins = {}
    row = r"kind: ExecutorKind::(\w+),\s*(?://[^\n]*\s*)*program: "
    for variant, package in re.findall(row + r'npm\("([^"]+)",\s*"[^"]+"\)', table):
        pins[names[variant]] = package
    for variant in re.findall(row + r"Program \{\s*package: None", table):
        pins[names[variant]] = "-"
    return pins


def check_images(check: Check, loader: Loader, settings: Settings) -> dict[str, str]:
    section("images (deploy/docker)")
    installed, skipped = parse_agents(check)
    pins = pinned_agents()
    check.expect(len(pins) >= 8, "worker/src/executors/mod.rs", f"found only {len(pins)} pinned agents: has the launcher changed shape?")
    for executor, package in pins.items():
        if executor in installed:
            check.expect(installed[executor][0] == package, "deploy/docker/agents.txt", f"{executor}: installs {installed[executor][0]}, the worker runs {package}")
        else:
            check.expect(executor in skipped, "deploy/docker/agents.txt", f"{executor} ({package}) is neither installed nor skipped with a reason")
    for executor in list(installed) + list(skipped):
        check.expect(executor in pins, "deploy/docker/agents.txt", f"{executor} is not an agent of the worker")
    expected_commands = {e: [f"/opt/switchyard/agents/bin/{b}"] for e, (_, b) in installed.items()}

    dockerignores = {}
    image_configs = {}
    for component in ("api", "scheduler", "worker"):
        dockerfile = DEPLOY / f"docker/{component}.Dockerfile"
        where = rel(dockerfile)
        text = dockerfile.read_text()
        lines = logical_lines(text)
        froms = [l for l in lines if l.upper().startswith("FROM ")]
        check.expect(len(froms) >= 2, where, "not a multi-stage build")
        args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
        for f in froms:
            image = f.split()[1]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
            check.expect(":" in image and not image.endswith(":latest"), where, f"base image {image} is not pinned to a tag")
        check.expect("cargo build --release --locked" in text, where, "the binary is not built with cargo build --release --locked")
        check.expect("--mount=type=cache" in text and "target=/src/target" in text, where, "no cache mount for the cargo registry and target/")
        final = text[text.rindex("\nFROM ") :]
        user = re.findall(r"^USER (\S+)$", final, re.M)
        # The worker alone runs as root: it holds the credentials and builds the sandbox
        # its attempts run in as other uids; the api and scheduler never need root.
        want_user = "0:0" if component == "worker" else f"{IMAGE_UID}:{IMAGE_UID}"
        check.expect(user == [want_user], where, f"the runtime stage's USER is {user}, not {want_user}")
        if component == "worker":
            check.expect(re.search(r"^#.*credentials", final, re.M) is not None and "sandbox" in final, where, "does not say (in a comment) why the worker runs as root")
        entry = re.findall(r"^ENTRYPOINT (.+)$", final, re.M)
        if check.expect(len(entry) == 1, where, "one ENTRYPOINT in the runtime stage"):
            try:
                argv = json.loads(entry[0])
                check.expect(isinstance(argv, list) and argv[-1].endswith(f"switchyard-{component}"), where, f"ENTRYPOINT {argv} does not run switchyard-{component}")
                if component == "worker":
                    check.expect(argv[:2] == ["/usr/bin/tini", "--"], where, f"ENTRYPOINT {argv}: tini is not PID 1")
            except json.JSONDecodeError:
                check.fail(where, "ENTRYPOINT is not in exec (JSON) form")
        for label in ("title", "description", "source", "licenses", "version", "revision"):
            check.expect(f"org.opencontainers.image.{label}=" in final, where, f"no org.opencontainers.image.{label} label")
        config_copy = re.search(r"^COPY deploy/docker/config/(\w+)\.toml /etc/switchyard/config\.toml$", final, re.M)
        check.expect(bool(config_copy) and config_copy.group(1) == component, where, "does not install its config/<component>.toml as /etc/switchyard/config.toml")
        check.expect("ENV SWITCHYARD_CONFIG=/etc/switchyard/config.toml" in final, where, "SWITCHYARD_CONFIG does not name /etc/switchyard/config.toml")
        ignore = DEPLOY / f"docker/{component}.Dockerfile.dockerignore"
        if check.expect(ignore.is_file(), where, f"no {ignore.name} (BuildKit's per-Dockerfile ignore file)"):
            dockerignores[component] = ignore.read_text()
            entries = set(ignore.read_text().split())
            for needed in (".git", ".dev", "**/target", "**/node_modules"):
                check.expect(needed in entries, rel(ignore), f"does not exclude {needed}")
        config_path = DEPLOY / f"docker/config/{component}.toml"
        image_configs[component] = config_path.read_text()
        try:
            parsed = tomllib.loads(image_configs[component])
            settings.check_tree(parsed, [], rel(config_path), check)
        except tomllib.TOMLDecodeError as e:
            check.fail(rel(config_path), f"not TOML: {e}")
    check.expect(len(set(dockerignores.values())) == 1, "deploy/docker/*.dockerignore", "the three ignore files differ")

    worker_text = (DEPLOY / "docker/worker.Dockerfile").read_text()
    for tool in ("git", "bash", "python3", "tini", "ca-certificates"):
        check.expect(re.search(rf"\b{re.escape(tool)}\b", worker_text.split("# --- Runtime.")[-1]) is not None, "deploy/docker/worker.Dockerfile", f"the runtime does not install {tool}")
    check.expect("COPY deploy/docker/agents.txt" in worker_text, "deploy/docker/worker.Dockerfile", "does not install the agents of agents.txt")
    check.expect("/usr/local/bin/node" in worker_text, "deploy/docker/worker.Dockerfile", "no Node.js in the runtime")
    worker_config = tomllib.loads(image_configs["worker"])
    check.expect(worker_config.get("worker", {}).get("agent_commands") == expected_commands, "deploy/docker/config/worker.toml", "worker.agent_commands does not name exactly the binaries of agents.txt")
    check.expect(worker_config.get("worker", {}).get("data_dir") == "/workspace", "deploy/docker/config/worker.toml", "worker.data_dir is not /workspace")
    if loader.binary:
        for component, text in image_configs.items():
            problem = loader.load(text, {})
            check.expect(problem is None, f"deploy/docker/config/{component}.toml", f"refused by the loader: {problem}")
    print(f"    {len(installed)} agent CLIs installed, {len(skipped)} skipped with a reason, matching {len(pins)} pins; 3 Dockerfiles, 3 image configs")
    return {e: c[0] for e, c in expected_commands.items()}


def logical_lines(dockerfile: str) -> list[str]:
    out, current = [], ""
    for line in dockerfile.splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            out.append(current.strip())
        current = ""
    return out


# --- compose --------------------------------------------------------------------------


INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ${VAR:-default} / ${VAR:?error} with nothing set: defaults, or a stand-in."""
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            if m.group(2) == "-":
                return m.group(3)
            if m.group(2) == "?":
                return "c3RhbmQtaW4tdmFsdWUtb2YtdGhlLWNoZWNrLTMyLWJ5dGVzLi4uLg=="
            return ""
        return INTERPOLATION.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


def check_compose(check: Check, loader: Loader, settings: Settings) -> None:
    section("compose (deploy/compose.yaml)")
    where = "deploy/compose.yaml"
    compose = interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))
    services = compose.get("services", {})
    for needed in ("postgres", "redis", "s3", "migrate", "api", "scheduler", "worker"):
        check.expect(needed in services, where, f"no {needed} service")
    healthchecked = {n for n, s in services.items() if s.get("healthcheck", {}).get("test")}
    for needed in ("postgres", "redis", "s3", "api"):
        check.expect(needed in healthchecked, where, f"{needed} has no health check")
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            condition = cond.get("condition") if isinstance(cond, dict) else None
            check.expect(dep in services, where, f"{name} depends on a missing service {dep}")
            check.expect(condition in ("service_healthy", "service_completed_successfully"), where, f"{name} → {dep}: no health or completion condition")
            if condition == "service_healthy":
                check.expect(dep in healthchecked, where, f"{name} waits for {dep} to be healthy, which has no health check")
        image = svc.get("image", "")
        check.expect(bool(image) and not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1], where, f"{name}: image {image!r} is not pinned")
        build = svc.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            check.expect((context / build["dockerfile"]).is_file(), where, f"{name}: no {build['dockerfile']} in {context}")
        for volume in svc.get("volumes", []):
            if isinstance(volume, str) and volume.startswith("./"):
                check.expect((DEPLOY / volume.split(":")[0]).exists(), where, f"{name}: mounts missing {volume}")
    for name in ("api", "scheduler", "worker"):
        deps = services.get(name, {}).get("depends_on", {})
        check.expect(deps.get("migrate", {}).get("condition") == "service_completed_successfully", where, f"{name} does not wait for the migrations")
        svc = services.get(name, {})
        check.expect(svc.get("read_only") is True and svc.get("cap_drop") == ["ALL"], where, f"{name}: not read-only with every capability dropped")
        check.expect(not svc.get("privileged"), where, f"{name}: privileged")
        check.expect("no-new-privileges:true" in (svc.get("security_opt") or []), where, f"{name}: may gain privileges (no no-new-privileges:true)")
        check.expect(not any(isinstance(v, str) and v.startswith(("/", "./", "../")) or isinstance(v, dict) and v.get("type") == "bind" for v in svc.get("volumes") or []), where, f"{name}: mounts a host path")
        check.expect(str(svc.get("user", "")) not in ("0", "root", "0:0"), where, f"{name}: runs as root by `user`")
        if name == "worker":
            # The sandbox's capabilities, exactly, and the AppArmor exception its mounts
            # need; seccomp stays Docker's default (it allows unshare and mount with SYS_ADMIN).
            added = svc.get("cap_add") or []
            check.expect(sorted(added) == sorted(SANDBOX_CAPS) and len(added) == len(set(added)), where, f"worker: cap_add {added} is not exactly the sandbox's {SANDBOX_CAPS}")
            check.expect("apparmor:unconfined" in (svc.get("security_opt") or []), where, "worker: no apparmor:unconfined (Docker's default profile denies the sandbox's mounts)")
            check.expect(not any("seccomp" in o and "unconfined" in o for o in svc.get("security_opt") or []), where, "worker: seccomp unconfined, which the sandbox does not need")
        else:
            check.expect(not svc.get("cap_add"), where, f"{name}: adds capabilities {svc.get('cap_add')}")
        db = svc.get("environment", {}).get("SWITCHYARD__DATABASE__URL", "")
        check.expect(db.startswith("postgres://switchyard_app:"), where, f"{name} does not connect as switchyard_app (row-level security)")
        check.expect("SWITCHYARD__DATABASE__MIGRATION_URL" not in svc.get("environment", {}), where, f"{name} holds the owner's credentials")
    for name in ("migrate", "s3"):
        svc = services.get(name, {})
        check.expect(not svc.get("cap_add") and not svc.get("privileged") and svc.get("cap_drop") == ["ALL"], where, f"{name}: holds capabilities")
    for name, svc in services.items():
        if name != "api":
            for n in svc.get("environment") or {}:
                check.expect(not n.startswith("SWITCHYARD__AUTH__SIGNING_KEYS") and not n.startswith("SWITCHYARD__GITHUB__"), where, f"{name} holds {n}, which only the api needs")
    migrate = services.get("migrate", {})
    check.expect(migrate.get("command") == ["migrate"], where, "the migrate service does not run `migrate`")
    check.expect(migrate.get("environment", {}).get("SWITCHYARD__DATABASE__MIGRATION_URL", "").startswith("postgres://switchyard:"), where, "migrate does not connect as the owner role")
    check.expect(migrate.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy", where, "migrate does not wait for a healthy postgres")
    init = (DEPLOY / "compose/postgres-init.sh").read_text()
    check.expect("CREATE ROLE switchyard_app LOGIN NOSUPERUSER NOBYPASSRLS" in init, "deploy/compose/postgres-init.sh", "does not create switchyard_app without BYPASSRLS")
    check.expect("CREATE DATABASE switchyard OWNER switchyard" in init, "deploy/compose/postgres-init.sh", "the owner role does not own the database")
    example = {l.split("=", 1)[0].lstrip("#") for l in (DEPLOY / ".env.example").read_text().splitlines() if "=" in l}
    used = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text()))
    check.expect(used <= example, "deploy/.env.example", f"does not mention {sorted(used - example)}")
    images = {"api": "api", "migrate": "api", "scheduler": "scheduler", "worker": "worker"}
    checked = 0
    for name, image in images.items():
        env = {k: str(v) for k, v in services.get(name, {}).get("environment", {}).items()}
        env_checker(settings, check)(f"{where} {name}", list(env))
        if loader.binary:
            problem = loader.load((DEPLOY / f"docker/config/{image}.toml").read_text(), env)
            check.expect(problem is None, where, f"{name}: its image config and environment are refused by the loader: {problem}")
            checked += 1
    print(f"    {len(services)} services, {len(healthchecked)} with health checks; {checked} service settings loaded by switchyard-api")


# --- plain manifests ------------------------------------------------------------------


def scheduler_env(objects: list[tuple[str, dict]]) -> dict[str, str]:
    """The plain variables of the scheduler Deployment's container (what it sets of
    scheduler.kubernetes from other values), with stand-ins for the downward API."""
    for _, obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("-scheduler"):
            env = {}
            for e in dig(pod_spec(obj), "containers", 0, "env") or []:
                if "value" in e and e["name"].startswith("SWITCHYARD__SCHEDULER__"):
                    env[e["name"]] = str(e["value"])
            return env
    return {}


def check_k8s(check: Check, loader: Loader, settings: Settings, agent_commands: dict[str, str], jobs: WorkerJobs) -> None:
    section("plain manifests (deploy/k8s)")
    files = sorted((DEPLOY / "k8s").glob("*.yaml"))
    objects: list[tuple[str, dict]] = []
    kustomization = None
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc:
                continue
            if doc.get("kind") == "Kustomization":
                kustomization = doc
                continue
            objects.append((rel(f), doc))
    count = validate_objects(objects, check)
    policy_checks(objects, check, settings, namespaced_env=env_checker(settings, check))
    if check.expect(kustomization is not None, "deploy/k8s", "no kustomization.yaml"):
        listed = set(kustomization["resources"])
        for f in files:
            if f.name in ("kustomization.yaml", "secret.example.yaml", "migrate-job.yaml"):
                check.expect(f.name not in listed, "deploy/k8s/kustomization.yaml", f"lists {f.name}, which is applied by hand")
            else:
                check.expect(f.name in listed, "deploy/k8s/kustomization.yaml", f"does not list {f.name}")
    kustomized = "not built (no kubectl)"
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=60)
        if check.expect(out.returncode == 0, "deploy/k8s/kustomization.yaml", f"kubectl kustomize failed: {out.stderr.strip()[:300]}"):
            built = [d for d in yaml.safe_load_all(out.stdout) if d]
            kustomized = f"kustomize builds {len(built)} objects"
    for where, obj in objects:
        check.expect(obj.get("metadata", {}).get("namespace") == "switchyard" or obj["kind"] == "Namespace", where, f"{obj['kind']}/{obj['metadata']['name']} is not in namespace switchyard")
    # References between objects resolve.
    by_kind: dict[str, dict[str, dict]] = {}
    for _, obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    for where, obj in objects:
        spec = pod_spec(obj)
        if not spec:
            continue
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = by_kind.get("Secret", {}).get(ref["name"])
                    if check.expect(secret is not None, where, f"{e['name']}: no Secret {ref['name']} in secret.example.yaml"):
                        check.expect(ref["key"] in secret.get("stringData", {}) or ref.get("optional"), where, f"{e['name']}: Secret {ref['name']} has no key {ref['key']}")
            for ef in c.get("envFrom", []):
                name = (ef.get("secretRef") or ef.get("configMapRef") or {}).get("name")
                kind = "Secret" if "secretRef" in ef else "ConfigMap"
                check.expect(name in by_kind.get(kind, {}), where, f"envFrom {kind} {name} is not defined")
        for v in spec.get("volumes", []):
            if "configMap" in v:
                check.expect(v["configMap"]["name"] in by_kind.get("ConfigMap", {}), where, f"volume ConfigMap {v['configMap']['name']} is not defined")
        account = spec.get("serviceAccountName")
        if account:
            check.expect(account in by_kind.get("ServiceAccount", {}), where, f"service account {account} is not defined")
    # The settings: config.toml, the workers' environment, and what the scheduler names.
    config_text = by_kind.get("ConfigMap", {}).get("switchyard-config", {}).get("data", {}).get("config.toml", "")
    config = tomllib.loads(config_text) if config_text else {}
    settings.check_tree(config, [], "deploy/k8s/config.yaml", check)
    check.expect(config.get("worker", {}).get("agent_commands") == {k: [v] for k, v in agent_commands.items()}, "deploy/k8s/config.yaml", "worker.agent_commands does not match agents.txt")
    kube = config.get("scheduler", {}).get("kubernetes", {})
    check.expect(config.get("scheduler", {}).get("backend") == "kubernetes", "deploy/k8s/config.yaml", "scheduler.backend is not kubernetes")
    for key, kind in (("service_account", "ServiceAccount"), ("worker_config_map", "ConfigMap"), ("worker_secret", "Secret")):
        check.expect(kube.get(key) in by_kind.get(kind, {}), "deploy/k8s/config.yaml", f"scheduler.kubernetes.{key} = {kube.get(key)!r} names no {kind} here")
    worker_env = by_kind.get("ConfigMap", {}).get(kube.get("worker_config_map"), {}).get("data", {})
    worker_secret = by_kind.get("Secret", {}).get(kube.get("worker_secret"), {}).get("stringData", {})
    env_checker(settings, check)("deploy/k8s worker environment", list(worker_env) + list(worker_secret))
    loaded = 0
    if loader.binary and config_text:
        env = {"SWITCHYARD__SECRETS__KEYS__K1": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}
        problem = loader.load(config_text, env)
        check.expect(problem is None, "deploy/k8s/config.yaml", f"config.toml refused by the loader: {problem}")
        worker = {**worker_env, **worker_secret}
        problem = loader.load((DEPLOY / "docker/config/worker.toml").read_text(), {k: str(v) for k, v in worker.items()})
        check.expect(problem is None, "deploy/k8s", f"a worker pod's settings (image config + environment) are refused: {problem}")
        loaded = 2
    # The worker pods the scheduler will make with these settings, and proof that the
    # check refuses what breaks the sandbox.
    made = jobs.made
    check_worker_jobs("deploy/k8s/config.yaml", jobs, config_text, scheduler_env(objects), check, settings, mutate=True)
    worker_pods = f"its worker Job made by {rel(jobs.binary)} holds the sandbox, {len(WORKER_MUTATIONS)} broken copies refused" if jobs.made > made else "worker Job not made (no current switchyard-scheduler)"
    print(f"    {count} objects in {len(files)} files, schema-valid for {' and '.join(K8S_VERSIONS)}; {kustomized}; {loaded} settings loaded by switchyard-api; {worker_pods}")


# --- the chart ------------------------------------------------------------------------


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths of a values tree's leaves: scalars, lists and empty maps."""
    if isinstance(tree, dict) and tree:
        out = {}
        for k, v in tree.items():
            out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: tree}


def merge(base: Any, override: Any) -> Any:
    """helm's values merge: maps merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return copy.deepcopy(override)


def schema_allows(schema: dict, path: list[str]) -> bool:
    """Whether the schema describes this values path (and does not leave it to chance)."""
    node = schema
    for part in path:
        if node.get("type") == "object" or "properties" in node:
            props = node.get("properties", {})
            if part in props:
                node = props[part]
            elif isinstance(node.get("additionalProperties"), dict):
                node = node["additionalProperties"]
            elif node.get("additionalProperties") is True or "additionalProperties" not in node:
                return True  # a free map (labels, annotations, the config passthrough)
            else:
                return False
        else:
            return True
    return True


def strict_objects(schema: dict, path: str, check: Check) -> int:
    """Chart-owned objects of the schema must refuse unknown keys; counts them."""
    count = 0
    if schema.get("type") == "object" and "properties" in schema:
        count += 1
        check.expect("additionalProperties" in schema, "helm/switchyard/values.schema.json", f"{path or '(root)'}: says nothing of unknown keys")
        for k, sub in schema["properties"].items():
            count += strict_objects(sub, f"{path}.{k}" if path else k, check)
    return count


MUTATIONS: list[tuple[str, Callable[[dict], None]]] = [
    ("an unknown top-level key", lambda v: v.update({"replicas": 3})),
    ("a misspelt api key", lambda v: v["api"].update({"replicaCont": 3})),
    ("a string for a replica count", lambda v: v["api"].update({"replicaCount": "two"})),
    ("zero scheduler replicas", lambda v: v["scheduler"].update({"replicaCount": 0})),
    ("an unknown config section", lambda v: v["config"].update({"databse": {}})),
    ("an unknown ingress pathType", lambda v: v["api"]["ingress"]["hosts"][0]["paths"][0].update({"pathType": "Glob"})),
    ("a relative public_url", lambda v: v["config"]["api"].update({"public_url": "switchyard.example.com"})),
    ("an upper-case encryption key id", lambda v: v["secrets"]["encryptionKeys"].update({"keys": {"K1": "x"}})),
    ("a bad pull policy", lambda v: v["image"].update({"pullPolicy": "Sometimes"})),
    ("the dev key allowed", lambda v: v["config"]["secrets"].update({"allow_dev_key": True})),
    ("api and scheduler pods as root", lambda v: v["podSecurityContext"].update({"runAsNonRoot": False, "runAsUser": 0})),
    ("api and scheduler containers as root", lambda v: v["containerSecurityContext"].update({"runAsUser": 0})),
    ("a capability for the api and scheduler", lambda v: v["containerSecurityContext"].update({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})),
    ("a worker attempt uid the pod does not map", lambda v: v["worker"]["sandbox"].update({"uid": 200000})),
    ("a Localhost seccomp profile without its file", lambda v: v["worker"]["sandbox"]["seccompProfile"].update({"type": "Localhost"})),
    ("a seccomp profile type Kubernetes does not know", lambda v: v["worker"]["sandbox"]["seccompProfile"].update({"type": "Strict"})),
]


def check_chart(check: Check, loader: Loader, settings: Settings, agent_commands: dict[str, str], jobs: WorkerJobs) -> None:
    section("chart (helm/switchyard)")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    check.expect(chart.get("apiVersion") == "v2" and chart.get("type") == "application", "helm/switchyard/Chart.yaml", "not a v2 application chart")
    for key in ("name", "version", "appVersion", "description", "kubeVersion"):
        check.expect(bool(chart.get(key)), "helm/switchyard/Chart.yaml", f"no {key}")
    check.expect(re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", str(chart.get("version"))) is not None, "helm/switchyard/Chart.yaml", "version is not SemVer")
    workspace_version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    check.expect(str(chart.get("appVersion")) == workspace_version, "helm/switchyard/Chart.yaml", f"appVersion {chart.get('appVersion')} is not the workspace's {workspace_version}")

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for e in validator.iter_errors(values):
        check.fail("helm/switchyard/values.yaml", f"{'.'.join(map(str, e.path))}: {e.message}")
    strict = strict_objects(schema, "", check)
    value_leaves = leaves(values)
    for path in value_leaves:
        check.expect(schema_allows(schema, path.split(".")), "helm/switchyard/values.schema.json", f"does not describe {path}")
    refused = 0
    for what, mutate in MUTATIONS:
        bad = copy.deepcopy(values)
        mutate(bad)
        if check.expect(not validator.is_valid(bad), "helm/switchyard/values.schema.json", f"accepts {what}"):
            refused += 1

    # The passthrough config: real settings, and the agents of the image.
    settings.check_tree(values["config"], [], "helm/switchyard/values.yaml config", check)
    settings.check_tree(values["worker"]["settings"], [], "helm/switchyard/values.yaml worker.settings", check)
    check.expect(values["config"]["worker"]["agent_commands"] == {k: [v] for k, v in agent_commands.items()}, "helm/switchyard/values.yaml", "config.worker.agent_commands does not match agents.txt")

    # Every .Values reference in a template exists.
    references = 0
    for tpl in sorted((CHART / "templates").iterdir()):
        for n, line in enumerate(tpl.read_text().splitlines(), 1):
            for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", line):
                references += 1
                node: Any = values
                for part in ref.strip(".").split("."):
                    if not (isinstance(node, dict) and part in node):
                        check.fail(f"helm/switchyard/templates/{tpl.name}:{n}", f".Values{ref} is not in values.yaml")
                        break
                    node = node[part]

    # Render with each ci/*.yaml; validate the objects; record which values were read.
    used: set[str] = set()
    rendered_objects = 0
    renders_failed = False
    ci_files = sorted((CHART / "ci").glob("*-values.yaml"))
    for ci in ci_files:
        where = f"helm/switchyard/ci/{ci.name}"
        merged = merge(values, yaml.safe_load(ci.read_text()))
        for e in validator.iter_errors(merged):
            check.fail(where, f"{'.'.join(map(str, e.path))}: {e.message}")
        try:
            renderer = gotemplate.Renderer(CHART, copy.deepcopy(merged), release="switchyard", namespace="switchyard")
            rendered = renderer.render()
        except gotemplate.TemplateError as e:
            check.fail(where, f"render: {e}")
            renders_failed = True
            continue
        used |= renderer.used
        objects = [(f"{where} → templates/{name}", obj) for name, obj in gotemplate.split_documents(rendered)]
        rendered_objects += validate_objects(objects, check)
        policy_checks(objects, check, settings, namespaced_env=env_checker(settings, check))
        check_rendered(objects, merged, where, check, loader, settings)
        # The worker pods the scheduler of this release will make.
        config_map = next((o for _, o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config")), None)
        if config_map is not None:
            sandbox = merged["worker"]["sandbox"]
            expect = {"seccomp": sandbox["seccompProfile"]["type"], "apparmor": sandbox["appArmorProfile"]["type"]}
            check_worker_jobs(where, jobs, config_map["data"]["config.toml"], scheduler_env(objects), check, settings, expect)
    # Installs without the required secrets are refused, each with its reason.
    for missing in ("database", "redis", "s3", "encryptionKeys", "signingKeys"):
        incomplete = merge(values, yaml.safe_load((CHART / "ci/default-values.yaml").read_text()))
        incomplete["secrets"][missing] = values["secrets"][missing]
        try:
            gotemplate.Renderer(CHART, incomplete).render()
            check.fail("helm/switchyard", f"renders without secrets.{missing}")
        except gotemplate.TemplateError as e:
            check.expect(f"secrets.{missing}" in str(e), "helm/switchyard", f"without secrets.{missing} the error does not say so: {e}")

    unused = [] if renders_failed else [p for p in value_leaves if not any(p == u or p.startswith(u + ".") or u == "" for u in used)]
    for p in unused:
        check.fail("helm/switchyard/values.yaml", f"{p} is read by no template (in any ci/*.yaml render)")
    documented = check_values_documented(check, values, schema, settings)
    print(f"    {len(value_leaves)} values ({documented} documented rows), {strict} strict schema objects, {refused} bad values refused, {references} .Values references")
    print(f"    {len(ci_files)} renders, {rendered_objects} objects schema-valid for {' and '.join(K8S_VERSIONS)}; {loader.runs} settings loads by switchyard-api so far; {jobs.made} worker Jobs made by switchyard-scheduler so far")


def check_rendered(objects: list[tuple[str, dict]], values: dict, where: str, check: Check, loader: Loader, settings: Settings) -> None:
    by_name = {(o["kind"], o["metadata"]["name"]): o for _, o in objects}
    kinds = {o["kind"] for _, o in objects}
    hpa = values["api"]["autoscaling"]["enabled"]
    check.expect(("HorizontalPodAutoscaler" in kinds) == hpa, where, "an HPA exactly when api.autoscaling.enabled")
    check.expect(("PodDisruptionBudget" in kinds) == values["api"]["podDisruptionBudget"]["enabled"], where, "a PDB exactly when enabled")
    check.expect(("Ingress" in kinds) == values["api"]["ingress"]["enabled"], where, "an Ingress exactly when enabled")
    for _, o in objects:
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-api"):
            check.expect(("replicas" in o["spec"]) != hpa, where, "api replicas are set by the HPA or by the values, never both")
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-scheduler"):
            check.expect(o["spec"]["replicas"] >= 1, where, "no scheduler replica")
    jobs = [o for _, o in objects if o["kind"] == "Job"]
    if values["migrations"]["enabled"]:
        if check.expect(len(jobs) == 1, where, "no migration Job"):
            job = jobs[0]
            hooks = job["metadata"].get("annotations", {})
            check.expect(hooks.get("helm.sh/hook") == "pre-install,pre-upgrade", where, "the migration Job is not a pre-install,pre-upgrade hook")
            c = job["spec"]["template"]["spec"]["containers"][0]
            check.expect(c.get("args") == ["migrate"], where, "the migration Job does not run migrate")
            env = {e["name"] for e in c.get("env", [])}
            check.expect("SWITCHYARD__DATABASE__MIGRATION_URL" in env, where, "the migration Job has no owner URL")
            # What a hook uses must exist before the release's own objects do.
            for v in job["spec"]["template"]["spec"]["volumes"]:
                if "configMap" in v:
                    cm = by_name.get(("ConfigMap", v["configMap"]["name"]))
                    check.expect(cm is not None and "helm.sh/hook" in cm["metadata"].get("annotations", {}), where, "the migration Job's ConfigMap is not a hook of its own")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ("Secret", ref["name"]) in by_name:
                    secret = by_name[("Secret", ref["name"])]
                    check.expect("helm.sh/hook" in secret["metadata"].get("annotations", {}), where, f"{e['name']}: the Secret it reads is created after the hook runs")
    else:
        check.expect(not jobs, where, "a migration Job while migrations are disabled")
    # No other pod may hold the owner's credentials.
    for _, o in objects:
        spec = pod_spec(o)
        if spec and o["kind"] != "Job":
            for c in spec["containers"]:
                check.expect(all(e["name"] != "SWITCHYARD__DATABASE__MIGRATION_URL" for e in c.get("env", [])), where, f"{o['metadata']['name']} holds the owner's credentials")
    # Settings: config.toml through the real loader, with the environment each pod gets.
    fullname = values["fullnameOverride"] or "switchyard"
    config_map = by_name.get(("ConfigMap", f"{fullname}-config"))
    if not check.expect(config_map is not None, where, "no config ConfigMap"):
        return
    text = config_map["data"]["config.toml"]
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        check.fail(where, f"config.toml is not TOML: {e}")
        return
    check.expect(config == values["config"], where, "config.toml does not hold exactly the config values")
    worker_env = by_name.get(("ConfigMap", f"{fullname}-worker"), {}).get("data", {})
    worker_secret = {k: "x" for k in by_name.get(("Secret", f"{fullname}-worker"), {}).get("data", {})}
    env_checker(settings, check)(f"{where} worker environment", list(worker_env) + list(worker_secret))
    if not loader.binary:
        return
    for _, o in objects:
        spec = pod_spec(o)
        if not spec:
            continue
        c = spec["containers"][0]
        env = {e["name"]: str(e.get("value", "stand-in")) for e in c.get("env", []) if e["name"].startswith("SWITCHYARD__")}
        for e in c.get("env", []):
            if e.get("valueFrom", {}).get("secretKeyRef") and e["name"].endswith("_URL"):
                env[e["name"]] = "postgres://x@127.0.0.1:1/x" if "DATABASE" in e["name"] else "redis://127.0.0.1:1/"
        problem = loader.load(text, env)
        check.expect(problem is None, where, f"{o['kind']}/{o['metadata']['name']}: its settings are refused by the loader: {problem}")
    env = {k: str(v) for k, v in worker_env.items()}
    env.update({k: "redis://127.0.0.1:1/" if k.endswith("REDIS__URL") else "stand-in" for k in worker_secret})
    problem = loader.load((DEPLOY / "docker/config/worker.toml").read_text(), env)
    check.expect(problem is None, where, f"a worker pod's settings (image config + worker ConfigMap/Secret) are refused: {problem}")


def doc_units(values: dict, schema: dict) -> list[str]:
    """The values docs/DEPLOY.md documents one row each: a key of a strict object, a
    setting of a config section, and free-form objects (probes, resources, label maps,
    security contexts, the agent commands) as a whole."""
    units: list[str] = []

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(value: Any, node: dict, path: list[str]) -> None:
        node = resolve(node)
        strict = node.get("additionalProperties") is False
        config_section = len(path) == 2 and path[0] == "config"
        if isinstance(value, dict) and value and (strict or config_section):
            for k, v in value.items():
                walk(v, node.get("properties", {}).get(k, {}), path + [k])
        else:
            units.append(".".join(path))

    walk(values, schema, [])
    return units


def check_values_documented(check: Check, values: dict, schema: dict, settings: Settings) -> int:
    text = DOCS.read_text() if DOCS.is_file() else ""
    if not check.expect(bool(text), "docs/DEPLOY.md", "missing"):
        return 0
    chart_values = re.search(r"^## Chart values$(.*?)(?=^## )", text, re.M | re.S)
    if not check.expect(chart_values is not None, "docs/DEPLOY.md", "no `## Chart values` section"):
        return 0
    documented = set(re.findall(r"^\|\s*`([A-Za-z0-9_./\-]+)`\s*\|", chart_values.group(1), re.M))
    units = doc_units(values, schema)
    for path in units:
        check.expect(path in documented, "docs/DEPLOY.md", f"the chart value `{path}` has no row in a table")
    # Rows for values that no longer exist; config rows may name optional settings.
    roots = set(values)
    for path in documented:
        if path.split(".")[0] not in roots:
            continue
        if path.startswith("config."):
            problem = settings.check_path(path.split(".")[1:])
            check.expect(problem is None, "docs/DEPLOY.md", f"`{path}`: {problem}")
        else:
            check.expect(path in units, "docs/DEPLOY.md", f"documents `{path}`, which is not a value of the chart")
    for needed in ("helm lint helm/switchyard", "kubernetes-validate", "bash deploy/check.sh"):
        check.expect(needed in text, "docs/DEPLOY.md", f"does not show `{needed}`")
    return len(units)


def kubernetes_setting_units(settings: Settings) -> list[str]:
    """Every setting of scheduler.kubernetes, as docs/DEPLOY.md documents them one row
    each: fields of nested sections by their dotted path, those of each resource class
    as `resource_classes.*.<field>`, lists and free maps as a whole."""
    units: list[str] = []

    def walk(type_: str, path: list[str]) -> None:
        kind, arg = settings._resolve(type_)
        if kind == "struct":
            for name, field_type in settings.structs[arg].items():
                walk(field_type, path + [name])
        elif kind == "map" and settings._resolve(arg)[0] == "struct":
            walk(arg, path + ["*"])
        else:
            units.append(".".join(path))

    walk(settings.structs["SchedulerSettings"]["kubernetes"], ["scheduler", "kubernetes"])
    return units


def check_kubernetes_settings_documented(check: Check, settings: Settings) -> int:
    """Each setting of the kubernetes backend has a row in DEPLOY.md's section on it,
    and each row there names a setting."""
    text = DOCS.read_text() if DOCS.is_file() else ""
    part = re.search(r"^## Kubernetes backend settings$(.*?)(?=^## )", text, re.M | re.S)
    if not check.expect(part is not None, "docs/DEPLOY.md", "no `## Kubernetes backend settings` section"):
        return 0
    documented = set(re.findall(r"^\|\s*`(scheduler\.kubernetes[A-Za-z0-9_.*]*)`\s*\|", part.group(1), re.M))
    units = kubernetes_setting_units(settings)
    for unit in units:
        check.expect(unit in documented, "docs/DEPLOY.md", f"the setting `{unit}` has no row under Kubernetes backend settings")
    for row in sorted(documented - set(units)):
        check.fail("docs/DEPLOY.md", f"`{row}` is not a setting of scheduler.kubernetes (shared/src/config.rs)")
    return len(units)


def main() -> int:
    check = Check()
    settings = Settings((ROOT / "shared/src/config.rs").read_text())
    loader = Loader()
    if not loader.binary:
        check.warn("no built switchyard-api (target/debug or SWITCHYARD_CHECK_API_BIN): settings checked against config.rs only, not loaded")
    jobs = WorkerJobs()
    if not jobs.binary:
        check.warn("no built switchyard-scheduler (target/debug or SWITCHYARD_CHECK_SCHEDULER_BIN): the worker pods it makes are not checked (cargo build -p scheduler)")
    elif jobs.stale:
        check.warn(f"{rel(jobs.binary)} is older than scheduler/src or shared/src: the worker pods it makes are not checked (cargo build -p scheduler)")
    agent_commands: dict[str, str] = {}

    def run(name: str, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except Exception as e:  # a malformed file must not hide the other sections' results
            import traceback
            check.fail(name, f"the check itself failed on what it read: {e!r}\n{traceback.format_exc(limit=-3)}")
            return None

    agent_commands = run("images", lambda: check_images(check, loader, settings)) or {}
    run("compose", lambda: check_compose(check, loader, settings))
    run("deploy/k8s", lambda: check_k8s(check, loader, settings, agent_commands, jobs))
    run("chart", lambda: check_chart(check, loader, settings, agent_commands, jobs))

    def kubernetes_docs() -> None:
        section("kubernetes backend (scheduler.kubernetes)")
        documented = check_kubernetes_settings_documented(check, settings)
        rules = ", ".join(f"{r} ({len(v)} verbs)" for (_, r), v in sorted(SCHEDULER_RULES.items()))
        print(f"    {documented} settings documented in docs/DEPLOY.md; the Role grants RBAC_RULES: {rules}")

    run("kubernetes backend", kubernetes_docs)
    for w in check.warnings:
        print(f"warning: {w}")
    if check.failures:
        print(f"\n{len(check.failures)} problem(s):", file=sys.stderr)
        for f in check.failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"deploy check passed ({loader.runs} settings loads by {rel(loader.binary) if loader.binary else 'no binary'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
