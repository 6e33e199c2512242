"""A small renderer for the Go-template subset the Switchyard chart uses.

No helm binary can be installed on the machines that run the test suite, so the check
renders helm/switchyard with this instead, then validates the objects it produces. It
follows Go's text/template for what it supports (trim markers, if/else if/else, range
with variables, with, define/include, pipelines, parentheses, variables) and a handful
of Helm/Sprig functions, and it refuses everything else loudly rather than guessing:
a template needing more makes the check fail until this grows or the template shrinks.
`helm template` stays the reference (docs/DEPLOY.md).

It is stricter than helm in one way on purpose: a field missing from a map is an error
(helm's `--strict` lint), so a template cannot read a value that values.yaml lacks.
Every values path a render reads is recorded on the `Values` wrapper, which lets the
check find values no template uses.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """A template that this renderer cannot render, or one that fails (`fail`, `required`)."""


# --- values that remember which of their paths were read ------------------------------


class Tracked(dict):
    """A map from values.yaml: reading a field records its dotted path in `log`."""

    def __init__(self, data: dict, path: str, log: set[str]):
        super().__init__(data)
        self.path = path
        self.log = log

    def child(self, key: str) -> Any:
        return wrap(dict.__getitem__(self, key), f"{self.path}.{key}" if self.path else key, self.log)


def wrap(value: Any, path: str, log: set[str]) -> Any:
    if isinstance(value, dict) and not isinstance(value, Tracked):
        return Tracked(value, path, log)
    return value


def consume(value: Any) -> None:
    """Marks a whole values subtree as used (serialized, ranged over, or read as a leaf)."""
    if isinstance(value, Tracked):
        value.log.add(value.path)


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        consume(value)
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- lexing ---------------------------------------------------------------------------


@dataclass
class Text:
    text: str


@dataclass
class Action:
    body: str
    line: int
    trim_left: bool
    trim_right: bool


ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def lex(source: str) -> list[Text | Action]:
    out: list[Text | Action] = []
    pos = 0
    for m in ACTION.finditer(source):
        out.append(Text(source[pos : m.start()]))
        line = source.count("\n", 0, m.start()) + 1
        out.append(Action(m.group(2).strip(), line, bool(m.group(1)), bool(m.group(3))))
        pos = m.end()
    out.append(Text(source[pos:]))
    # Trim markers eat the whitespace next to them, newlines included.
    for i, item in enumerate(out):
        if isinstance(item, Action):
            if item.trim_left and isinstance(out[i - 1], Text):
                out[i - 1].text = out[i - 1].text.rstrip(" \t\r\n")
            if item.trim_right and isinstance(out[i + 1], Text):
                out[i + 1].text = out[i + 1].text.lstrip(" \t\r\n")
    return out


TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<decl>:=)
    | (?P<assign>=)
    | (?P<pipe>\|)
    | (?P<lp>\()
    | (?P<rp>\))(?P<rpfield>(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<comma>,)
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)


def tokenize(body: str, where: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    body = body.rstrip()
    while pos < len(body):
        m = TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"{where}: cannot read {body[pos:]!r}")
        kind = m.lastgroup
        if kind == "rpfield":
            tokens.append(("rp", ")"))
            if m.group("rpfield"):
                raise TemplateError(f"{where}: field access on a parenthesised value is not supported")
        else:
            tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


# --- parsing --------------------------------------------------------------------------


@dataclass
class Pipeline:
    decl: list[str]  # variables declared (:=) or assigned (=)
    assign: bool
    commands: list[list[Any]]  # each command: a list of operands


@dataclass
class Node:
    kind: str  # text, action, if, range, with, template
    where: str = ""
    text: str = ""
    pipe: Pipeline | None = None
    body: list[Any] = field(default_factory=list)
    branches: list[tuple[Pipeline, list[Any]]] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)
    name: str = ""


def parse_pipeline(tokens: list[tuple[str, str]], where: str) -> Pipeline:
    decl: list[str] = []
    assign = False
    # `$a := ...`, `$k, $v := ...`
    if tokens and tokens[0][0] == "var":
        j = 0
        names = []
        while j < len(tokens) and tokens[j][0] == "var":
            names.append(tokens[j][1])
            j += 1
            if j < len(tokens) and tokens[j][0] == "comma":
                j += 1
                continue
            break
        if j < len(tokens) and tokens[j][0] in ("decl", "assign"):
            decl = names
            assign = tokens[j][0] == "assign"
            tokens = tokens[j + 1 :]

    def operand(i: int) -> tuple[Any, int]:
        kind, value = tokens[i]
        if kind == "lp":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                depth += {"lp": 1, "rp": -1}.get(tokens[j][0], 0)
                j += 1
            if depth:
                raise TemplateError(f"{where}: unclosed parenthesis")
            return ("pipe", parse_pipeline(tokens[i + 1 : j - 1], where)), j
        if kind == "str":
            return ("lit", json.loads(value)), i + 1
        if kind == "raw":
            return ("lit", value[1:-1]), i + 1
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value)), i + 1
        if kind == "field":
            return ("field", [p for p in value.split(".") if p]), i + 1
        if kind == "var":
            name, *rest = value.split(".")
            return ("var", name, rest), i + 1
        if kind == "ident":
            if value in ("true", "false"):
                return ("lit", value == "true"), i + 1
            if value == "nil":
                return ("lit", None), i + 1
            return ("fn", value), i + 1
        raise TemplateError(f"{where}: unexpected {value!r}")

    commands: list[list[Any]] = [[]]
    i = 0
    while i < len(tokens):
        if tokens[i][0] == "pipe":
            commands.append([])
            i += 1
            continue
        op, i = operand(i)
        commands[-1].append(op)
    if any(not c for c in commands):
        raise TemplateError(f"{where}: empty command in pipeline")
    return Pipeline(decl, assign, commands)


def parse(source: str, name: str, defines: dict[str, list[Any]]) -> list[Any]:
    items = lex(source)
    pos = 0

    def block(stop: tuple[str, ...]) -> tuple[list[Any], str, Action | None]:
        nonlocal pos
        nodes: list[Any] = []
        while pos < len(items):
            item = items[pos]
            pos += 1
            if isinstance(item, Text):
                if item.text:
                    nodes.append(Node("text", text=item.text))
                continue
            where = f"{name}:{item.line}"
            body = item.body
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise TemplateError(f"{where}: unterminated comment")
                continue
            word = body.split(None, 1)[0] if body else ""
            rest = body[len(word) :].strip()
            if word in ("end", "else"):
                if word not in stop and not (word == "else" and "else" in stop):
                    raise TemplateError(f"{where}: unexpected {{{{ {word} }}}}")
                return nodes, word, item
            if word in ("if", "with", "range"):
                node = Node(word, where=where)
                pipe = parse_pipeline(tokenize(rest, where), where)
                inner, ended, tail = block(("end", "else"))
                node.branches.append((pipe, inner))
                while ended == "else":
                    else_rest = tail.body[4:].strip()
                    if else_rest.startswith("if ") and word == "if":
                        cond = parse_pipeline(tokenize(else_rest[3:], where), where)
                        inner, ended, tail = block(("end", "else"))
                        node.branches.append((cond, inner))
                    elif else_rest:
                        raise TemplateError(f"{where}: `else {else_rest}` is not supported")
                    else:
                        node.otherwise, ended, tail = block(("end",))
                nodes.append(node)
            elif word == "define":
                define_name = json.loads(rest)
                inner, _, _ = block(("end",))
                defines[define_name] = inner
            elif word == "template":
                raise TemplateError(f"{where}: use include, not template")
            elif word in ("block", "break", "continue"):
                raise TemplateError(f"{where}: {word} is not supported")
            else:
                nodes.append(Node("action", where=where, pipe=parse_pipeline(tokenize(body, where), where)))
        if stop:
            raise TemplateError(f"{name}: missing {{{{ end }}}}")
        return nodes, "", None

    nodes, _, _ = block(())
    return nodes


# --- evaluation -----------------------------------------------------------------------


def truth(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def to_text(v: Any, where: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (str, int, float)):
        return str(v)
    raise TemplateError(f"{where}: printing a {type(v).__name__} ({v!r:.60}); use toYaml")


def go_yaml(v: Any) -> str:
    """toYaml: sorted keys, block style, no trailing newline (as sigs.k8s.io/yaml + Helm)."""
    v = plain(v)
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True, width=1 << 20).rstrip("\n")


BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if v is None:
        raise TemplateError("toToml: a null value cannot be written in TOML (leave the key out)")
    raise TemplateError(f"toToml: cannot write {type(v).__name__}")


def go_toml(v: Any) -> str:
    """toToml: per table, plain keys first, then sub-tables and arrays of tables, sorted."""
    v = plain(v)
    lines: list[str] = []

    def key(k: str) -> str:
        return k if BARE_KEY.match(k) else json.dumps(k)

    def is_table_array(x: Any) -> bool:
        return isinstance(x, list) and bool(x) and all(isinstance(e, dict) for e in x)

    def table(path: list[str], m: dict, header: str | None) -> None:
        plain_keys = [(k, x) for k, x in sorted(m.items()) if not isinstance(x, dict) and not is_table_array(x)]
        if header is not None:
            if lines:
                lines.append("")
            lines.append(header)
        for k, x in plain_keys:
            lines.append(f"{key(k)} = {toml_value(x)}")
        for k, x in sorted(m.items()):
            name = ".".join(key(p) for p in path + [k])
            if isinstance(x, dict):
                has_plain = any(not isinstance(e, dict) and not is_table_array(e) for e in x.values())
                table(path + [k], x, f"[{name}]" if has_plain or not x else None)
            elif is_table_array(x):
                for element in x:
                    table(path + [k], element, f"[[{name}]]")

    table([], v, None)
    return "\n".join(lines) + "\n"


def go_printf(fmt: str, *args: Any) -> str:
    out, i, argi = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        arg = args[argi]
        argi += 1
        if verb in "sv":
            out.append(to_text(arg, "printf"))
        elif verb == "d":
            out.append(str(int(arg)))
        elif verb == "q":
            out.append(json.dumps(to_text(arg, "printf")))
        else:
            raise TemplateError(f"printf: verb %{verb} is not supported")
    return "".join(out)


class Renderer:
    """Renders a chart directory with given values, as `helm template` would."""

    def __init__(self, chart_dir: Path, values: dict, release: str = "switchyard", namespace: str = "switchyard"):
        self.chart_dir = chart_dir
        chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
        self.used: set[str] = set()
        self.root = {
            "Values": Tracked(values, "", self.used),
            "Chart": {
                "Name": chart["name"],
                "Version": chart["version"],
                "AppVersion": chart.get("appVersion", ""),
            },
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True, "IsUpgrade": False},
            "Template": {"BasePath": "switchyard/templates"},
        }
        self.defines: dict[str, list[Any]] = {}
        self.files: dict[str, list[Any]] = {}
        for path in sorted((chart_dir / "templates").iterdir()):
            if path.suffix not in (".yaml", ".tpl", ".txt"):
                continue
            nodes = parse(path.read_text(), f"templates/{path.name}", self.defines)
            if not path.name.startswith("_"):
                self.files[path.name] = nodes

    def render(self) -> dict[str, str]:
        return {name: self.run(nodes, self.root, [{"$": self.root}]) for name, nodes in self.files.items()}

    # Scopes: a list of dicts; `$` lives in the outermost one.
    def run(self, nodes: list[Any], dot: Any, scopes: list[dict]) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self.pipeline(node.pipe, dot, scopes, node.where)
                if not node.pipe.decl:
                    out.append(to_text(value, node.where))
            elif node.kind == "if":
                for cond, body in node.branches:
                    inner = scopes + [{}]
                    if truth(self.pipeline(cond, dot, inner, node.where)):
                        out.append(self.run(body, dot, inner))
                        break
                else:
                    out.append(self.run(node.otherwise, dot, scopes + [{}]))
            elif node.kind == "with":
                pipe, body = node.branches[0]
                inner = scopes + [{}]
                value = self.pipeline(pipe, dot, inner, node.where)
                if truth(value):
                    out.append(self.run(body, value, inner))
                else:
                    out.append(self.run(node.otherwise, dot, scopes + [{}]))
            elif node.kind == "range":
                pipe, body = node.branches[0]
                names = pipe.decl
                value = self.pipeline(Pipeline([], False, pipe.commands), dot, scopes, node.where)
                consume(value)
                if isinstance(value, dict):
                    pairs = [(k, value.child(k) if isinstance(value, Tracked) else value[k]) for k in sorted(value)]
                elif isinstance(value, list):
                    pairs = list(enumerate(value))
                elif value is None:
                    pairs = []
                else:
                    raise TemplateError(f"{node.where}: cannot range over {type(value).__name__}")
                if not pairs:
                    out.append(self.run(node.otherwise, dot, scopes + [{}]))
                for k, v in pairs:
                    inner = scopes + [{}]
                    if len(names) == 1:
                        inner[-1][names[0]] = v
                    elif len(names) == 2:
                        inner[-1][names[0]] = k
                        inner[-1][names[1]] = v
                    out.append(self.run(body, v, inner))
        return "".join(out)

    def lookup_var(self, name: str, scopes: list[dict], where: str) -> Any:
        for scope in reversed(scopes):
            if name in scope:
                return scope[name]
        raise TemplateError(f"{where}: undefined variable {name}")

    def operand(self, op: Any, dot: Any, scopes: list[dict], where: str) -> Any:
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "pipe":
            return self.pipeline(op[1], dot, scopes, where)
        if kind == "field":
            return self.track(dot, op[1], where)
        if kind == "var":
            return self.track(self.lookup_var(op[1], scopes, where), op[2], where)
        raise TemplateError(f"{where}: {op[1]} used as a value")

    def track(self, value: Any, names: list[str], where: str) -> Any:
        """Follows names from value. Reaching a values leaf (a scalar, a list or an empty
        map) records its path as used; a non-empty map is recorded only when it is
        serialized or ranged over, since a template may read just one of its fields."""
        for i, n in enumerate(names):
            if isinstance(value, Tracked):
                if n not in value:
                    missing = f"{value.path}.{n}" if value.path else n
                    raise TemplateError(f"{where}: .Values.{missing} is not in the values")
                parent, value = value, value.child(n)
                if i == len(names) - 1 and not (isinstance(value, Tracked) and value):
                    self.used.add(f"{parent.path}.{n}" if parent.path else n)
            elif isinstance(value, dict):
                if n not in value:
                    raise TemplateError(f"{where}: no field {n!r} here (fields: {sorted(value)})")
                value = value[n]
            else:
                raise TemplateError(f"{where}: .{n} of a {type(value).__name__}")
        return value

    def pipeline(self, pipe: Pipeline, dot: Any, scopes: list[dict], where: str) -> Any:
        value: Any = None
        for i, cmd in enumerate(pipe.commands):
            piped = [value] if i > 0 else []
            head = cmd[0]
            if head[0] == "fn":
                args = [self.operand(a, dot, scopes, where) for a in cmd[1:]] + piped
                value = self.call(head[1], args, dot, scopes, where)
            else:
                if len(cmd) > 1 or piped:
                    raise TemplateError(f"{where}: arguments to a non-function")
                value = self.operand(head, dot, scopes, where)
        if pipe.decl:
            if len(pipe.decl) != 1:
                raise TemplateError(f"{where}: only range declares two variables")
            name = pipe.decl[0]
            if pipe.assign:
                for scope in reversed(scopes):
                    if name in scope:
                        scope[name] = value
                        break
                else:
                    raise TemplateError(f"{where}: assignment to undeclared {name}")
            else:
                scopes[-1][name] = value
        return value

    def call(self, name: str, args: list[Any], dot: Any, scopes: list[dict], where: str) -> Any:
        def need(n: int) -> None:
            if len(args) != n:
                raise TemplateError(f"{where}: {name} takes {n} arguments, got {len(args)}")

        if name == "include":
            need(2)
            if args[0] not in self.defines:
                raise TemplateError(f"{where}: no template named {args[0]!r}")
            return self.run(self.defines[args[0]], args[1], [{"$": args[1]}])
        if name == "required":
            need(2)
            if args[1] is None or args[1] == "":
                raise TemplateError(f"{where}: required: {args[0]}")
            return args[1]
        if name == "fail":
            need(1)
            raise TemplateError(f"{where}: fail: {args[0]}")
        if name == "default":
            need(2)
            return args[1] if truth(args[1]) else args[0]
        if name == "toYaml":
            need(1)
            return go_yaml(args[0])
        if name == "toToml":
            need(1)
            return go_toml(args[0])
        if name in ("nindent", "indent"):
            need(2)
            pad = " " * int(args[0])
            text = pad + to_text(args[1], where).replace("\n", "\n" + pad)
            return "\n" + text if name == "nindent" else text
        if name == "quote":
            return " ".join(json.dumps(to_text(a, where)) for a in args if a is not None)
        if name == "printf":
            return go_printf(args[0], *args[1:])
        if name == "trunc":
            need(2)
            return to_text(args[1], where)[: int(args[0])]
        if name == "trimSuffix":
            need(2)
            s = to_text(args[1], where)
            return s[: -len(args[0])] if args[0] and s.endswith(args[0]) else s
        if name == "replace":
            need(3)
            return to_text(args[2], where).replace(args[0], args[1])
        if name == "contains":
            need(2)
            return args[0] in to_text(args[1], where)
        if name == "b64enc":
            need(1)
            return base64.b64encode(to_text(args[0], where).encode()).decode()
        if name == "sha256sum":
            need(1)
            return hashlib.sha256(to_text(args[0], where).encode()).hexdigest()
        if name == "dict":
            if len(args) % 2:
                raise TemplateError(f"{where}: dict needs key/value pairs")
            return {args[i]: args[i + 1] for i in range(0, len(args), 2)}
        if name == "get":
            need(2)
            m, k = args
            if isinstance(m, Tracked):
                if k not in m:
                    return ""
                v = m.child(k)
                if not (isinstance(v, Tracked) and v):
                    self.used.add(f"{m.path}.{k}" if m.path else k)
                return v
            return m.get(k, "")
        if name == "kindIs":
            need(2)
            kinds = {"map": dict, "slice": list, "string": str, "bool": bool}
            if args[0] == "float64":  # helm reads every number of the values as float64
                return isinstance(args[1], (int, float)) and not isinstance(args[1], bool)
            if args[0] not in kinds:
                raise TemplateError(f"{where}: kindIs {args[0]!r} is not supported")
            return isinstance(args[1], kinds[args[0]])
        if name == "int64":
            need(1)
            return int(args[0])
        if name == "toString":
            need(1)
            return to_text(args[0], where)
        if name in ("upper", "lower", "trim"):
            need(1)
            text = to_text(args[0], where)
            return {"upper": text.upper, "lower": text.lower, "trim": text.strip}[name]()
        if name == "deepCopy":
            need(1)
            return copy.deepcopy(plain(args[0]))
        if name == "mergeOverwrite":
            def merge_into(dst: dict, src: dict) -> dict:
                for k, v in plain(src).items():
                    if isinstance(v, dict) and isinstance(dst.get(k), dict):
                        merge_into(dst[k], v)
                    else:
                        dst[k] = copy.deepcopy(v)
                return dst
            for src in args[1:]:
                merge_into(args[0], src)
            return args[0]
        if name == "omit":
            if not isinstance(args[0], dict):
                raise TemplateError(f"{where}: omit of a {type(args[0]).__name__}")
            consume(args[0])
            return {k: v for k, v in args[0].items() if k not in args[1:]}
        if name == "regexMatch":
            need(2)
            return re.search(args[0], to_text(args[1], where)) is not None
        if name == "list":
            return list(args)
        if name == "eq":
            return any(args[0] == a for a in args[1:])
        if name == "ne":
            need(2)
            return args[0] != args[1]
        if name == "not":
            need(1)
            return not truth(args[0])
        if name == "and":
            for a in args:
                if not truth(a):
                    return a
            return args[-1]
        if name == "or":
            for a in args:
                if truth(a):
                    return a
            return args[-1]
        raise TemplateError(f"{where}: function {name!r} is not supported by this renderer")


def split_documents(rendered: dict[str, str]) -> list[tuple[str, dict]]:
    """The YAML objects of a render, each with the template it came from."""
    objects = []
    for name, text in rendered.items():
        if not name.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append((name, doc))
    return objects
