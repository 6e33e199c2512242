#!/usr/bin/env python3
"""A stand-in for `opencode serve`: OpenCode's local HTTP server without a model.

`opencode serve --hostname H --port P` binds (port 0: any free port) and prints
`opencode server listening on http://H:PORT`, as the real tool does. Routes:
  GET  /event                              server-sent events (`data: {json}`), first `server.connected`
  POST /session                            a new session; body {permission: [{permission, pattern, action}]}
  GET  /session/{id}                       the session, 404 when unknown
  POST /session/{id}/prompt_async          {parts: [{type: "text", text}], model?: {providerID, modelID}}:
                                           204, the turn runs
  POST /session/{id}/abort                 stops the running turn
  POST /session/{id}/permissions/{permID}  {response: "once" | "always" | "reject"}
The prompt's text is a small script, one action per line:
  say <text>                 an assistant text part
  think <text>               a reasoning part
  write <path> <content...>  a `write` tool call, really written in the working directory
  bash <command...>          a `bash` tool call, really run (abortable)
  history                    says how many earlier turns the session holds
  fail <message>             the turn ends with a `session.error`
When the session's ruleset says `ask`, every tool call first publishes
`permission.updated` and waits for the reply. Each turn ends with `session.idle`.
Sessions are files under $HOME/.local/share/opencode/storage/session/, so a server
started later (with the files restored) knows them.
"""
import json
import os
import queue
import random
import string
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
if not args or args[0] != "serve":
    sys.stderr.write("fake opencode: expected `opencode serve`\n")
    sys.exit(2)
HOST, PORT = "127.0.0.1", 4096
i = 1
while i < len(args):
    if args[i] == "--hostname":
        HOST = args[i + 1]
        i += 2
    elif args[i] == "--port":
        PORT = int(args[i + 1])
        i += 2
    else:
        sys.stderr.write(f"fake opencode: unknown flag {args[i]}\n")
        sys.exit(2)

HOME = os.environ.get("HOME", "/tmp")
STORE = os.path.join(HOME, ".local", "share", "opencode", "storage", "session")
CWD = os.getcwd()

subscribers = []
subscribers_lock = threading.Lock()
# Permission id -> [event, response]
permissions = {}
permissions_lock = threading.Condition()
# Session id -> threading.Event set on abort
running = {}


def ident(prefix):
    return prefix + "_" + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(20))


def now_ms():
    return int(time.time() * 1000)


def publish(kind, properties):
    event = json.dumps({"type": kind, "properties": properties})
    with subscribers_lock:
        for q in subscribers:
            q.put(event)


def session_path(sid):
    return os.path.join(STORE, sid + ".json")


def load(sid):
    if "/" in sid or not sid:
        return None
    try:
        with open(session_path(sid)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save(session):
    os.makedirs(STORE, exist_ok=True)
    with open(session_path(session["id"]), "w") as f:
        json.dump(session, f)


def part_event(part):
    publish("message.part.updated", {"part": part})


class Aborted(Exception):
    pass


def ask(session, message_id, call_id, kind, title, metadata, abort):
    """Publishes a permission request when the ruleset says `ask`; True when allowed."""
    rules = session.get("permission") or []
    action = "allow"
    for rule in rules:
        if rule.get("permission") in ("*", kind):
            action = rule.get("action", "allow")
    if action == "allow":
        return True
    if action == "deny":
        return False
    pid = ident("per")
    with permissions_lock:
        permissions[pid] = None
    publish("permission.updated", {
        "id": pid, "type": kind, "pattern": title, "sessionID": session["id"],
        "messageID": message_id, "callID": call_id, "title": title,
        "metadata": metadata, "time": {"created": now_ms()},
    })
    with permissions_lock:
        while permissions[pid] is None:
            if abort.is_set():
                raise Aborted()
            permissions_lock.wait(0.1)
        response = permissions.pop(pid)
    publish("permission.replied", {"sessionID": session["id"], "permissionID": pid, "response": response})
    return response != "reject"


def tool_part(session_id, message_id, call_id, tool, status, inp, **extra):
    state = {"status": status, "input": inp, "time": {"start": now_ms()}}
    state.update(extra)
    part_event({"id": "prt_" + call_id, "sessionID": session_id, "messageID": message_id,
                "type": "tool", "callID": call_id, "tool": tool, "state": state})


def run_turn(session, text, abort):
    sid = session["id"]
    user_id = ident("msg")
    publish("session.status", {"sessionID": sid, "status": {"type": "busy"}})
    publish("message.updated", {"info": {"id": user_id, "sessionID": sid, "role": "user"}})
    part_event({"id": ident("prt"), "sessionID": sid, "messageID": user_id, "type": "text", "text": text})
    earlier = len(session["turns"])
    session["turns"].append(text)
    save(session)
    msg = ident("msg")
    publish("message.updated", {"info": {"id": msg, "sessionID": sid, "role": "assistant"}})
    error = None
    try:
        for line in text.splitlines():
            if abort.is_set():
                raise Aborted()
            word, _, rest = line.strip().partition(" ")
            if word == "say":
                part_event({"id": ident("prt"), "sessionID": sid, "messageID": msg, "type": "text", "text": rest})
            elif word == "think":
                part_event({"id": ident("prt"), "sessionID": sid, "messageID": msg, "type": "reasoning", "text": rest})
            elif word == "history":
                part_event({"id": ident("prt"), "sessionID": sid, "messageID": msg, "type": "text",
                            "text": f"resumed session with {earlier} earlier turns"})
            elif word == "fail":
                error = {"name": "UnknownError", "data": {"message": rest}}
                break
            elif word == "write":
                path, _, content = rest.partition(" ")
                call = ident("call")
                full = os.path.join(CWD, path)
                inp = {"filePath": full, "content": content + "\n"}
                tool_part(sid, msg, call, "write", "pending", inp)
                if not ask(session, msg, call, "edit", path, {"filePath": full}, abort):
                    tool_part(sid, msg, call, "write", "error", inp,
                              error="The user rejected permission to use this specific tool call.")
                    continue
                os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
                with open(full, "w") as f:
                    f.write(content + "\n")
                tool_part(sid, msg, call, "write", "completed", inp, output="", title=path, metadata={})
            elif word == "bash":
                call = ident("call")
                inp = {"command": rest, "description": "runs " + rest}
                tool_part(sid, msg, call, "bash", "pending", inp)
                if not ask(session, msg, call, "bash", rest, {"command": rest}, abort):
                    tool_part(sid, msg, call, "bash", "error", inp,
                              error="The user rejected permission to use this specific tool call.")
                    continue
                tool_part(sid, msg, call, "bash", "running", inp)
                proc = subprocess.Popen(["bash", "-c", rest], cwd=CWD, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                while proc.poll() is None:
                    if abort.is_set():
                        os.killpg(proc.pid, 9)
                        proc.wait()
                        raise Aborted()
                    time.sleep(0.05)
                out = proc.stdout.read().decode(errors="replace")
                tool_part(sid, msg, call, "bash", "completed", inp, output=out, title=rest,
                          metadata={"exit": proc.returncode, "output": out})
            elif word:
                part_event({"id": ident("prt"), "sessionID": sid, "messageID": msg, "type": "text",
                            "text": f"unknown action {word}"})
        part_event({"id": ident("prt"), "sessionID": sid, "messageID": msg, "type": "step-finish",
                    "tokens": {"input": 12, "output": 7, "reasoning": 0, "cache": {"read": 3, "write": 0}},
                    "cost": 0.001})
    except Aborted:
        error = {"name": "MessageAbortedError", "data": {"message": "The operation was aborted."}}
    if error:
        publish("session.error", {"sessionID": sid, "error": error})
    running.pop(sid, None)
    publish("session.status", {"sessionID": sid, "status": {"type": "idle"}})
    publish("session.idle", {"sessionID": sid})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if body is not None:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["event"]:
            return self.events()
        if len(parts) == 2 and parts[0] == "session":
            session = load(parts[1])
            return self.reply(200, session) if session else self.reply(404, {"name": "NotFoundError"})
        self.reply(404, {"name": "NotFoundError"})

    def events(self):
        q = queue.Queue()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        with subscribers_lock:
            subscribers.append(q)
        try:
            self.wfile.write(b'data: {"type":"server.connected","properties":{}}\n\n')
            self.wfile.flush()
            while True:
                try:
                    event = q.get(timeout=10)
                    self.wfile.write(b"data: " + event.encode() + b"\n\n")
                except queue.Empty:
                    self.wfile.write(b'data: {"type":"server.heartbeat","properties":{}}\n\n')
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with subscribers_lock:
                subscribers.remove(q)
            self.close_connection = True

    def do_POST(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        body = self.body()
        if body is None:
            return self.reply(400, {"name": "BadRequest"})
        if parts == ["session"]:
            session = {"id": ident("ses"), "directory": CWD, "title": "New session",
                       "permission": body.get("permission") or [], "turns": [],
                       "time": {"created": now_ms()}}
            save(session)
            publish("session.created", {"info": session})
            return self.reply(200, session)
        if len(parts) >= 3 and parts[0] == "session":
            session = load(parts[1])
            if not session:
                return self.reply(404, {"name": "NotFoundError"})
            sid = session["id"]
            if parts[2] == "prompt_async":
                texts = [p.get("text", "") for p in body.get("parts", []) if p.get("type") == "text"]
                model = body.get("model")
                if model is not None and not (isinstance(model, dict) and isinstance(model.get("providerID"), str)
                                              and isinstance(model.get("modelID"), str)):
                    return self.reply(400, {"name": "BadRequest", "data": {"message": "model needs providerID and modelID"}})
                if not texts or sid in running:
                    return self.reply(400, {"name": "BadRequest"})
                abort = threading.Event()
                running[sid] = abort
                threading.Thread(target=run_turn, args=(session, "\n".join(texts), abort), daemon=True).start()
                return self.reply(204)
            if parts[2] == "abort":
                if sid in running:
                    running[sid].set()
                return self.reply(200, True)
            if parts[2] == "permissions" and len(parts) == 4:
                response = body.get("response")
                if response not in ("once", "always", "reject"):
                    return self.reply(400, {"name": "BadRequest"})
                with permissions_lock:
                    if parts[3] not in permissions:
                        return self.reply(404, {"name": "NotFoundError"})
                    permissions[parts[3]] = response
                    permissions_lock.notify_all()
                return self.reply(200, True)
        self.reply(404, {"name": "NotFoundError"})


class Server(ThreadingHTTPServer):
    daemon_threads = True


server = Server((HOST, PORT), Handler)
print(f"opencode server listening on http://{HOST}:{server.server_address[1]}", flush=True)
server.serve_forever()
