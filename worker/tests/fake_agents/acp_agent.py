#!/usr/bin/env python3
"""A stand-in for the Agent Client Protocol agents (JSON-RPC 2.0, one message a line over
stdio): `acp_agent.py gemini|qwen-code|copilot <the real tool's arguments>`. Gemini and
Qwen Code want `--experimental-acp` (`--yolo` approves everything), Copilot `--acp`
(`--allow-all-tools`). Without the approve-all flag every tool call asks the client
with `session/request_permission` first.

The prompt is a small script, one action per line:
  say <text>                 an agent_message_chunk
  think <text>               an agent_thought_chunk
  write <path> <content...>  an edit tool call that really writes the file
  bash <command...>          an execute tool call, really run in the working directory
  wait <seconds>             idles (a `session/cancel` ends the turn early)
  history                    says how many earlier turns the loaded session holds
  env <NAME>                 says the value of an environment variable
  ask <method>               sends the client a request of its own (Qwen Code's
                             `craft/drainMidTurnQueue`, say) and says how it was answered;
                             like the real agent, waits for the answer before going on
  fail <message...>          ends the turn by answering the prompt with a JSON-RPC error
                             (as Qwen Code does when every model call failed)
  refuse                     ends the turn with stopReason `refusal`
Sessions are JSON files under $HOME/<the tool's session dir>/<id>.json; `session/load`
replays one and `session/resume` (advertised by the gemini and qwen-code flavors) continues
one without a replay; an unknown id is an error, as with the real tools.
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid

FLAVORS = {
    "gemini": ("--experimental-acp", "--yolo", ".gemini/tmp"),
    "qwen-code": ("--experimental-acp", "--yolo", ".qwen/tmp"),
    "copilot": ("--acp", "--allow-all-tools", ".copilot/session-state"),
}

if len(sys.argv) < 2 or sys.argv[1] not in FLAVORS:
    sys.stderr.write("fake acp: first argument must be one of gemini, qwen-code, copilot\n")
    sys.exit(2)
flavor, args = sys.argv[1], sys.argv[2:]
acp_flag, approve_all_flag, session_subdir = FLAVORS[flavor]
if acp_flag not in args:
    sys.stderr.write(f"fake acp: {flavor} speaks ACP only with {acp_flag}\n")
    sys.exit(2)
ask_permission = approve_all_flag not in args
session_dir = os.path.join(os.environ.get("HOME", "/tmp"), session_subdir)

inbox = queue.Queue()


def reader():
    for raw in iter(sys.stdin.readline, ""):
        raw = raw.strip()
        if not raw:
            continue
        try:
            inbox.put(json.loads(raw))
        except json.JSONDecodeError:
            sys.stderr.write(f"fake acp: unreadable input line: {raw[:80]}\n")
    inbox.put(None)


threading.Thread(target=reader, daemon=True).start()


def emit(obj):
    obj["jsonrpc"] = "2.0"
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def respond(msg_id, result):
    emit({"id": msg_id, "result": result})


def fail(msg_id, code, message):
    emit({"id": msg_id, "error": {"code": code, "message": message}})


def update(session_id, body):
    emit({"method": "session/update", "params": {"sessionId": session_id, "update": body}})


def session_path(session_id):
    return os.path.join(session_dir, session_id + ".json")


class Cancelled(Exception):
    pass


class TurnFailed(Exception):
    """The prompt is answered with this error instead of a stop reason."""


class Refused(Exception):
    pass


# Messages read while waiting for something else, handled afterwards.
deferred = []
next_request = [0]


def wait_for(predicate, timeout=None):
    """Reads messages until one satisfies `predicate`; a cancel raises Cancelled."""
    deadline = None if timeout is None else time.time() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.time())
        try:
            msg = inbox.get(timeout=remaining)
        except queue.Empty:
            return None
        if msg is None:
            raise Cancelled("stdin closed")
        if msg.get("method") == "session/cancel":
            raise Cancelled("cancelled")
        if predicate(msg):
            return msg
        deferred.append(msg)


def permitted(session_id, call):
    if not ask_permission:
        return True
    next_request[0] += 1
    request_id = 1000 + next_request[0]
    emit({"id": request_id, "method": "session/request_permission", "params": {
        "sessionId": session_id, "toolCall": call,
        "options": [
            {"optionId": "proceed_once", "name": "Allow", "kind": "allow_once"},
            {"optionId": "proceed_always", "name": "Allow always", "kind": "allow_always"},
            {"optionId": "cancel", "name": "Reject", "kind": "reject_once"},
        ]}})
    answer = wait_for(lambda m: m.get("id") == request_id and "method" not in m)
    outcome = (answer.get("result") or {}).get("outcome") or {}
    if outcome.get("outcome") == "cancelled":
        raise Cancelled("permission cancelled")
    return outcome.get("outcome") == "selected" and outcome.get("optionId", "").startswith("proceed")


def run_turn(session_id, prompt, history, cwd):
    counter = [0]

    def call_id():
        counter[0] += 1
        return f"{flavor}-{session_id[:8]}-{len(history)}-{counter[0]}"

    for line in prompt.splitlines():
        action, _, rest = line.strip().partition(" ")
        if not action:
            continue
        if action == "say":
            update(session_id, {"sessionUpdate": "agent_message_chunk",
                                "content": {"type": "text", "text": rest}})
        elif action == "think":
            update(session_id, {"sessionUpdate": "agent_thought_chunk",
                                "content": {"type": "text", "text": rest}})
        elif action == "write":
            path, _, content = rest.partition(" ")
            full = os.path.join(cwd, path)
            call = {"toolCallId": call_id(), "title": f"Write {path}", "kind": "edit",
                    "status": "pending", "locations": [{"path": full}],
                    "rawInput": {"file_path": full, "content": content + "\n"}}
            update(session_id, dict(call, sessionUpdate="tool_call"))
            if permitted(session_id, call):
                os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
                with open(full, "w") as f:
                    f.write(content + "\n")
                update(session_id, {"sessionUpdate": "tool_call_update",
                                    "toolCallId": call["toolCallId"], "status": "completed",
                                    "content": [{"type": "diff", "path": full, "newText": content + "\n"}]})
            else:
                update(session_id, {"sessionUpdate": "tool_call_update",
                                    "toolCallId": call["toolCallId"], "status": "failed",
                                    "content": [{"type": "content", "content": {
                                        "type": "text", "text": "The user rejected this tool call"}}]})
        elif action == "bash":
            call = {"toolCallId": call_id(), "title": rest, "kind": "execute",
                    "status": "pending", "rawInput": {"command": rest}}
            update(session_id, dict(call, sessionUpdate="tool_call"))
            if permitted(session_id, call):
                update(session_id, {"sessionUpdate": "tool_call_update",
                                    "toolCallId": call["toolCallId"], "status": "in_progress"})
                done = subprocess.run(["bash", "-c", rest], cwd=cwd, capture_output=True, text=True)
                out = (done.stdout + done.stderr).rstrip("\n")
                update(session_id, {"sessionUpdate": "tool_call_update",
                                    "toolCallId": call["toolCallId"],
                                    "status": "completed" if done.returncode == 0 else "failed",
                                    "rawOutput": {"output": out, "exitCode": done.returncode},
                                    "content": [{"type": "content", "content": {"type": "text", "text": out}}]})
            else:
                update(session_id, {"sessionUpdate": "tool_call_update",
                                    "toolCallId": call["toolCallId"], "status": "failed"})
        elif action == "wait":
            wait_for(lambda m: False, timeout=float(rest or "1"))
        elif action == "ask":
            next_request[0] += 1
            request_id = 1000 + next_request[0]
            emit({"id": request_id, "method": rest, "params": {"sessionId": session_id}})
            answer = wait_for(lambda m: m.get("id") == request_id and "method" not in m, timeout=60)
            if answer is None:
                told = "was not answered"
            elif answer.get("error"):
                told = f"answered error {answer['error'].get('code')}"
            else:
                told = f"answered {json.dumps(answer.get('result'))}"
            update(session_id, {"sessionUpdate": "agent_message_chunk",
                                "content": {"type": "text", "text": f"{rest} {told}"}})
        elif action == "env":
            update(session_id, {"sessionUpdate": "agent_message_chunk", "content": {
                "type": "text", "text": f"{rest}={os.environ.get(rest, '')}"}})
        elif action == "fail":
            raise TurnFailed(rest)
        elif action == "refuse":
            raise Refused()
        elif action == "history":
            turns = sum(1 for h in history if h.get("role") == "user")
            update(session_id, {"sessionUpdate": "agent_message_chunk", "content": {
                "type": "text", "text": f"resumed session with {turns} earlier turns"}})
        else:
            update(session_id, {"sessionUpdate": "agent_message_chunk",
                                "content": {"type": "text", "text": f"I do not know how to {action}"}})


sessions = {}  # id -> {"cwd": ..., "history": [...]}
initialized = False


def save(session_id):
    os.makedirs(session_dir, exist_ok=True)
    with open(session_path(session_id), "w") as f:
        json.dump(sessions[session_id], f)


def handle(msg):
    global initialized
    method, msg_id, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
    if method is None:
        return  # a response to nothing outstanding
    if method == "initialize":
        initialized = True
        capabilities = {"loadSession": True,
                        "promptCapabilities": {"image": False, "embeddedContext": True}}
        if flavor != "copilot":
            capabilities["sessionCapabilities"] = {"resume": {}}
        respond(msg_id, {"protocolVersion": 1, "authMethods": [], "agentCapabilities": capabilities})
    elif not initialized:
        fail(msg_id, -32600, "not initialized")
    elif method == "session/new":
        if not os.path.isabs(params.get("cwd", "")) or not isinstance(params.get("mcpServers"), list):
            fail(msg_id, -32602, "session/new needs an absolute cwd and mcpServers")
            return
        session_id = str(uuid.uuid4())
        sessions[session_id] = {"cwd": params["cwd"], "history": []}
        save(session_id)
        respond(msg_id, {"sessionId": session_id})
    elif method == "session/load" or (method == "session/resume" and flavor != "copilot"):
        session_id = params.get("sessionId", "")
        path = session_path(session_id)
        if not os.path.exists(path):
            fail(msg_id, -32002, f"Session not found: {session_id}")
            return
        with open(path) as f:
            sessions[session_id] = json.load(f)
        sessions[session_id]["cwd"] = params.get("cwd") or sessions[session_id]["cwd"]
        for h in sessions[session_id]["history"] if method == "session/load" else []:
            kind = "user_message_chunk" if h["role"] == "user" else "agent_message_chunk"
            update(session_id, {"sessionUpdate": kind, "content": {"type": "text", "text": h["content"]}})
        respond(msg_id, None if method == "session/load" else {})
    elif method == "session/prompt":
        session_id = params.get("sessionId")
        if session_id not in sessions:
            fail(msg_id, -32602, f"unknown session {session_id}")
            return
        prompt = "\n".join(b.get("text", "") for b in params.get("prompt", []) if b.get("type") == "text")
        session = sessions[session_id]
        stop, failure = "end_turn", None
        try:
            run_turn(session_id, prompt, session["history"], session["cwd"])
        except Cancelled:
            stop = "cancelled"
        except Refused:
            stop = "refusal"
        except TurnFailed as e:
            stop, failure = "error", str(e)
        session["history"].append({"role": "user", "content": prompt})
        session["history"].append({"role": "agent", "content": "done" if stop == "end_turn" else stop})
        save(session_id)
        if failure is not None:
            emit({"id": msg_id, "error": {"code": -32603, "message": "Internal error",
                                          "data": {"details": failure}}})
            return
        words = len(prompt.split()) + 1
        respond(msg_id, {"stopReason": stop, "usage": {
            "inputTokens": 10 * words, "outputTokens": 7 * words, "totalTokens": 17 * words}})
    elif method == "session/cancel":
        pass  # nothing runs between turns
    elif msg_id is not None:
        fail(msg_id, -32601, f"method not found: {method}")


while True:
    if deferred:
        msg = deferred.pop(0)
    else:
        msg = inbox.get()
    if msg is None:
        break
    handle(msg)
