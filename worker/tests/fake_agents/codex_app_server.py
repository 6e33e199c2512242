#!/usr/bin/env python3
"""A stand-in for `codex app-server`: Codex's JSON-RPC over stdio (JSON lines, no
"jsonrpc" header) without a model.

The client must `initialize`, send the `initialized` notification, then `thread/start`
(or `thread/resume` with a thread id), then `turn/start` with a text input; anything out
of order is refused as the real server refuses it. The turn's text is a small script,
one action per line:
  say <text>                 an agentMessage item (streamed as deltas)
  think <text>               a reasoning item
  write <path> <content...>  a fileChange item, really written in the working directory
  bash <command...>          a commandExecution item, really run (interruptible)
  env <NAME>                 says the value of an environment variable
  history                    says how many earlier turns the resumed thread holds
  fail <message...>          the model call fails for good: an `error` notification (after
                             a retried one), then the turn completes `failed`; the turn's
                             own error is left empty, so the notification names the cause
Under `approvalPolicy: "untrusted"` every write and command first asks the client
(`item/fileChange/requestApproval`, `item/commandExecution/requestApproval`) and follows
its decision. `turn/interrupt` stops the running turn, which completes as `interrupted`.
Threads are rollout files under $HOME/.codex/sessions/YYYY/MM/DD/, as with the real tool;
`thread/resume` of an unknown id is an error. The server exits at the end of its input.
"""
import glob
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
import uuid

if not sys.argv[1:] or sys.argv[1] != "app-server":
    sys.stderr.write("fake codex: expected `codex app-server`\n")
    sys.exit(2)

HOME = os.environ.get("HOME", "/tmp")
SESSIONS = os.path.join(HOME, ".codex", "sessions")
APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")
SANDBOXES = {"read-only": {"type": "readOnly"},
             "workspace-write": {"type": "workspaceWrite", "writableRoots": [], "networkAccess": False},
             "danger-full-access": {"type": "dangerFullAccess"}}
INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32600, -32601, -32602


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def notify(method, params):
    emit({"method": method, "params": params})


def respond(rid, result):
    emit({"id": rid, "result": result})


def fail(rid, code, message):
    emit({"id": rid, "error": {"code": code, "message": message}})


def uuid7():
    """A time-ordered id, like Codex's thread ids."""
    ms = int(time.time() * 1000)
    rand = random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


# Every incoming message, read on a thread of its own so a running command or an
# approval wait still sees `turn/interrupt`. None marks the end of input.
inbox = queue.Queue()


def read_stdin():
    for raw in sys.stdin:
        raw = raw.strip()
        if not raw:
            continue
        try:
            inbox.put(json.loads(raw))
        except json.JSONDecodeError:
            sys.stderr.write(f"fake codex: unreadable input line: {raw[:80]}\n")
    inbox.put(None)


threading.Thread(target=read_stdin, daemon=True).start()
deferred = []


def next_message(timeout=None):
    if deferred:
        return deferred.pop(0)
    msg = inbox.get(timeout=timeout)
    if msg is None:
        sys.exit(0)  # end of input: the server shuts down
    return msg


class Interrupted(Exception):
    pass


class Session:
    """One thread: its rollout file and what it remembers."""

    def __init__(self, thread_id, path, cwd, approval, sandbox, model, effort):
        self.id, self.path, self.cwd = thread_id, path, cwd
        self.approval, self.sandbox, self.model, self.effort = approval, sandbox, model, effort
        self.user_turns = 0
        self.turns = []
        self.total = {"inputTokens": 0, "cachedInputTokens": 0, "outputTokens": 0}

    def record(self, kind, payload):
        with open(self.path, "a") as f:
            f.write(json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "type": kind, "payload": payload}) + "\n")

    def thread(self):
        return {"id": self.id, "preview": "", "modelProvider": "openai", "createdAt": int(time.time()),
                "updatedAt": int(time.time()), "path": self.path, "cwd": self.cwd, "cliVersion": "0.169.0",
                "source": "appServer", "ephemeral": False, "status": {"type": "idle"},
                "turns": [{"id": t, "items": [], "status": "completed", "error": None} for t in self.turns]}

    def settings(self):
        return {"thread": self.thread(), "model": self.model, "modelProvider": "openai", "serviceTier": None,
                "cwd": self.cwd, "approvalPolicy": self.approval, "approvalsReviewer": "user",
                "sandbox": SANDBOXES[self.sandbox], "reasoningEffort": self.effort}


def thread_settings(params, rid):
    """Validates the overrides of thread/start and thread/resume; None after refusing."""
    approval = params.get("approvalPolicy") or "on-request"
    sandbox = params.get("sandbox") or "workspace-write"
    cwd = params.get("cwd") or os.getcwd()
    if approval not in APPROVAL_POLICIES:
        fail(rid, INVALID_PARAMS, f"Invalid request: unknown variant `{approval}` for approvalPolicy")
        return None
    if sandbox not in SANDBOXES:
        fail(rid, INVALID_PARAMS, f"Invalid request: unknown variant `{sandbox}` for sandbox")
        return None
    if not os.path.isabs(cwd) or not os.path.isdir(cwd):
        fail(rid, INVALID_PARAMS, f"cwd is not a directory: {cwd}")
        return None
    return approval, sandbox, cwd, params.get("model") or "gpt-5.1-codex"


def start_thread(rid, params):
    settings = thread_settings(params, rid)
    if settings is None:
        return None
    approval, sandbox, cwd, model = settings
    thread_id = uuid7()
    now = time.gmtime()
    folder = os.path.join(SESSIONS, time.strftime("%Y/%m/%d", now))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"rollout-{time.strftime('%Y-%m-%dT%H-%M-%S', now)}-{thread_id}.jsonl")
    session = Session(thread_id, path, cwd, approval, sandbox, model, None)
    session.record("session_meta", {"id": thread_id, "cwd": cwd, "originator": "codex_app_server",
                                    "cli_version": "0.169.0", "model_provider": "openai"})
    respond(rid, session.settings())
    notify("thread/started", {"thread": session.thread()})
    return session


def resume_thread(rid, params):
    thread_id = params.get("threadId") or ""
    found = glob.glob(os.path.join(SESSIONS, "**", f"rollout-*-{thread_id}.jsonl"), recursive=True)
    if not thread_id or not found:
        fail(rid, INVALID_REQUEST, f"no rollout found for thread id {thread_id}")
        return None
    settings = thread_settings(params, rid)
    if settings is None:
        return None
    approval, sandbox, cwd, model = settings
    session = Session(thread_id, found[0], cwd, approval, sandbox, model, None)
    with open(found[0]) as f:
        for line in f:
            record = json.loads(line)
            payload = record.get("payload", {})
            if record.get("type") == "response_item" and payload.get("role") == "user":
                session.user_turns += 1
            if record.get("type") == "turn_context":
                session.turns.append(payload.get("turn_id"))
            if record.get("type") == "event_msg" and payload.get("type") == "token_count":
                session.total = payload["total"]
    respond(rid, session.settings())
    return session


class Turn:
    def __init__(self, session, turn_id):
        self.session, self.id = session, turn_id
        self.counter = 0
        self.next_request = 0
        self.interrupted = False
        self.said = []

    def item_id(self):
        self.counter += 1
        return f"item_{self.counter}"

    def event(self, method, params):
        notify(method, {"threadId": self.session.id, "turnId": self.id, **params})

    def poll(self, timeout):
        """Handles what arrives during the turn; returns a response to one of our requests."""
        try:
            msg = next_message(timeout)
        except queue.Empty:
            return None
        if "method" in msg and "id" in msg:
            if msg["method"] == "turn/interrupt":
                params = msg.get("params", {})
                if params.get("threadId") != self.session.id or params.get("turnId") != self.id:
                    fail(msg["id"], INVALID_REQUEST, "no such active turn")
                    return None
                respond(msg["id"], {})
                self.interrupted = True
                raise Interrupted()
            deferred.append(msg)  # handled once the turn is over
            return None
        if "method" not in msg and "id" in msg:
            return msg
        return None

    def check(self):
        while not inbox.empty():
            self.poll(0)

    def ask(self, method, params):
        """Sends an approval request and waits for the client's decision."""
        rid = self.next_request
        self.next_request += 1
        emit({"method": method, "id": rid, "params": {"threadId": self.session.id, "turnId": self.id, **params}})
        while True:
            reply = self.poll(None)
            if reply is None or reply.get("id") != rid:
                continue
            notify("serverRequest/resolved", {"threadId": self.session.id, "requestId": rid})
            if "error" in reply:
                return "decline"
            decision = reply.get("result", {}).get("decision")
            if isinstance(decision, dict):
                decision = next(iter(decision), "")
            if decision not in ("accept", "acceptForSession", "decline", "cancel"):
                sys.stderr.write(f"fake codex: invalid decision {decision!r}\n")
                return "decline"
            if decision == "cancel":
                self.interrupted = True
                raise Interrupted()
            return decision

    def asks(self):
        return self.session.approval == "untrusted"

    def say(self, text, kind="agentMessage"):
        iid = self.item_id()
        if kind == "agentMessage":
            self.event("item/started", {"item": {"type": "agentMessage", "id": iid, "text": ""}})
            words = text.split(" ")
            for i, word in enumerate(words):
                self.event("item/agentMessage/delta", {"itemId": iid, "delta": word + (" " if i + 1 < len(words) else "")})
            self.event("item/completed", {"item": {"type": "agentMessage", "id": iid, "text": text}})
            self.said.append(text)
        else:
            self.event("item/started", {"item": {"type": "reasoning", "id": iid, "summary": [], "content": []}})
            self.event("item/reasoning/summaryTextDelta", {"itemId": iid, "delta": text, "summaryIndex": 0})
            self.event("item/completed", {"item": {"type": "reasoning", "id": iid, "summary": [text], "content": []}})

    def write(self, rest):
        rel, _, content = rest.partition(" ")
        path = os.path.join(self.session.cwd, rel)
        iid = self.item_id()
        kind = {"type": "update" if os.path.exists(path) else "add", "move_path": None}
        changes = [{"path": path, "kind": kind, "diff": content + "\n"}]
        self.event("item/started", {"item": {"type": "fileChange", "id": iid, "changes": changes, "status": "inProgress"}})
        if self.asks():
            decision = self.ask("item/fileChange/requestApproval", {"itemId": iid, "reason": None})
            if decision == "decline":
                self.event("item/completed", {"item": {"type": "fileChange", "id": iid, "changes": changes, "status": "declined"}})
                return
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(content + "\n")
        self.event("item/fileChange/outputDelta", {"itemId": iid, "delta": f"Success. Updated the following files:\nA {rel}\n"})
        self.event("item/completed", {"item": {"type": "fileChange", "id": iid, "changes": changes, "status": "completed"}})

    def bash(self, command):
        iid = self.item_id()
        shown = f"/bin/bash -lc {json.dumps(command)}"
        actions = [{"type": "unknown", "command": command}]
        item = {"type": "commandExecution", "id": iid, "command": shown, "cwd": self.session.cwd, "processId": None,
                "status": "inProgress", "commandActions": actions, "aggregatedOutput": None, "exitCode": None,
                "durationMs": None}
        self.event("item/started", {"item": item})
        if self.asks():
            decision = self.ask("item/commandExecution/requestApproval",
                                {"itemId": iid, "reason": None, "command": shown, "cwd": self.session.cwd,
                                 "commandActions": actions})
            if decision == "decline":
                self.event("item/completed", {"item": {**item, "status": "declined"}})
                return
        started = time.time()
        proc = subprocess.Popen(["bash", "-c", command], cwd=self.session.cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            while proc.poll() is None:
                self.poll(0.05)
        except Interrupted:
            proc.kill()
            proc.wait()
            self.event("item/completed", {"item": {**item, "status": "failed", "aggregatedOutput": "",
                                                   "durationMs": int((time.time() - started) * 1000)}})
            raise
        output = proc.stdout.read()
        if output:
            self.event("item/commandExecution/outputDelta", {"itemId": iid, "delta": output})
        self.event("item/completed", {"item": {**item, "status": "completed" if proc.returncode == 0 else "failed",
                                               "aggregatedOutput": output, "exitCode": proc.returncode,
                                               "durationMs": int((time.time() - started) * 1000)}})

    def run(self, prompt):
        self.event("turn/started", {"turn": {"id": self.id, "items": [], "status": "inProgress", "error": None}})
        uid = self.item_id()
        content = [{"type": "text", "text": prompt, "text_elements": []}]
        self.event("item/started", {"item": {"type": "userMessage", "id": uid, "content": content}})
        self.event("item/completed", {"item": {"type": "userMessage", "id": uid, "content": content}})
        earlier = self.session.user_turns
        self.session.record("turn_context", {"turn_id": self.id, "cwd": self.session.cwd,
                                             "approval_policy": self.session.approval, "model": self.session.model})
        self.session.record("response_item", {"type": "message", "role": "user",
                                              "content": [{"type": "input_text", "text": prompt}]})
        self.session.user_turns += 1
        self.session.turns.append(self.id)
        error = None
        try:
            for line in prompt.splitlines():
                self.check()
                action, _, rest = line.strip().partition(" ")
                if not action:
                    continue
                if action == "say":
                    self.say(rest)
                elif action == "think":
                    self.say(rest, kind="reasoning")
                elif action == "write":
                    self.write(rest)
                elif action == "bash":
                    self.bash(rest)
                elif action == "env":
                    self.say(f"{rest}={os.environ.get(rest, '')}")
                elif action == "history":
                    self.say(f"resumed session with {earlier} earlier turns")
                elif action == "fail":
                    for retry in (True, False):
                        self.event("error", {"turnId": self.id, "willRetry": retry, "error": {
                            "message": "stream disconnected; reconnecting" if retry else rest,
                            "codexErrorInfo": "other", "additionalDetails": None}})
                    error = rest
                    break
                else:
                    self.say(f"I do not know how to {action}")
        except Interrupted:
            pass
        for text in self.said:
            self.session.record("response_item", {"type": "message", "role": "assistant",
                                                  "content": [{"type": "output_text", "text": text}]})
        last = {"inputTokens": 100 * (len(prompt.split()) + 1), "cachedInputTokens": 0,
                "outputTokens": 7 * (len(prompt.splitlines()) + 1)}
        total = {k: self.session.total.get(k, 0) + v for k, v in last.items()}
        self.session.total = total
        self.session.record("event_msg", {"type": "token_count", "total": total})
        usage = lambda u: {**u, "totalTokens": u["inputTokens"] + u["outputTokens"], "reasoningOutputTokens": 0}
        self.event("thread/tokenUsage/updated", {"tokenUsage": {"total": usage(total), "last": usage(last),
                                                                "modelContextWindow": 272000}})
        status = "interrupted" if self.interrupted else "failed" if error else "completed"
        notify("turn/completed", {"threadId": self.session.id,
                                  "turn": {"id": self.id, "items": [], "status": status, "error": None}})


initialized = False
acknowledged = False
threads = {}

while True:
    msg = next_message()
    method, rid, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
    if method is None:
        continue  # a response to nothing we asked
    if rid is None:
        if method == "initialized":
            acknowledged = True
        continue
    if method == "initialize":
        if initialized:
            fail(rid, INVALID_REQUEST, "Already initialized")
            continue
        if not isinstance(params.get("clientInfo"), dict) or not params["clientInfo"].get("name"):
            fail(rid, INVALID_PARAMS, "Invalid request: missing field `clientInfo`")
            continue
        initialized = True
        respond(rid, {"userAgent": f"{params['clientInfo']['name']}/0.169.0 (fake codex)",
                      "codexHome": os.path.join(HOME, ".codex"), "platformFamily": "unix", "platformOs": "linux"})
        continue
    if not (initialized and acknowledged):
        fail(rid, INVALID_REQUEST, "Not initialized")
        continue
    if method == "thread/start":
        session = start_thread(rid, params)
        if session:
            threads[session.id] = session
    elif method == "thread/resume":
        session = resume_thread(rid, params)
        if session:
            threads[session.id] = session
    elif method == "turn/start":
        session = threads.get(params.get("threadId"))
        text = [i.get("text", "") for i in params.get("input") or [] if i.get("type") == "text"]
        if session is None:
            fail(rid, INVALID_REQUEST, f"thread not found: {params.get('threadId')}")
            continue
        if not text:
            fail(rid, INVALID_PARAMS, "Invalid request: input must hold a text item")
            continue
        effort = params.get("effort")
        if effort is not None and effort not in ("none", "minimal", "low", "medium", "high", "xhigh"):
            fail(rid, INVALID_PARAMS, f"Invalid request: unknown variant `{effort}` for effort")
            continue
        turn = Turn(session, uuid7())
        respond(rid, {"turn": {"id": turn.id, "items": [], "status": "inProgress", "error": None}})
        turn.run("\n".join(text))
    elif method == "turn/interrupt":
        fail(rid, INVALID_REQUEST, "no active turn to interrupt")
    else:
        fail(rid, METHOD_NOT_FOUND, f"method not found: {method}")
