#!/usr/bin/env python3
"""A stand-in for the one-shot stream-json agents — Cursor (`cursor-agent -p
--output-format stream-json`), Droid (`droid exec --output-format stream-json`) and Amp
(`amp [threads continue <id>] --execute <prompt> --stream-json`, Claude-shaped events) —
printing each tool's event shapes without a model. The first argument names the flavor
(`cursor`, `droid` or `amp`); the prompt is the last argument (Amp: the one after
`--execute`), one action per line:
  say <text>        an assistant message
  bash <command>    a shell tool call, really run in the working directory
  history           says how many earlier turns the resumed session holds
Sessions live in $HOME/.cursor/chats or $HOME/.factory/sessions, as <id>.json; `--resume <id>` (Cursor) or
`--session-id <id>` (Droid) continues one, and an unknown id is an error.
"""
import json
import os
import subprocess
import sys
import time
import uuid

flavor, args = sys.argv[1], sys.argv[2:]
prompt = args[-1] if args else ""
if flavor == "amp":
    prompt = args[args.index("--execute") + 1] if "--execute" in args else ""


def option(name):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# Where each real tool keeps its sessions under the home directory.
sessions_dir = {"cursor": ".cursor/chats", "droid": ".factory/sessions", "amp": ".local/share/amp"}[flavor]
store = os.path.join(os.environ.get("HOME", "/tmp"), sessions_dir)
os.makedirs(store, exist_ok=True)
if flavor == "amp":
    resume = args[2] if args[:2] == ["threads", "continue"] and len(args) > 2 else None
else:
    resume = option("--resume" if flavor == "cursor" else "--session-id")
session = resume or (("T-" if flavor == "amp" else "") + str(uuid.uuid4()))
path = os.path.join(store, session + ".json")
if resume and not os.path.exists(path):
    sys.stderr.write(f"Error: session {resume} not found\n")
    sys.exit(1)
turns = json.load(open(path)) if resume else []
cwd = os.getcwd()
now_ms = lambda: int(time.time() * 1000)

if flavor == "amp":
    emit({"type": "system", "subtype": "init", "cwd": cwd, "session_id": session, "tools": ["Bash", "edit_file"]})
    emit({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": prompt}]},
          "parent_tool_use_id": None, "session_id": session})
elif flavor == "cursor":
    emit({"type": "system", "subtype": "init", "apiKeySource": "env", "cwd": cwd, "session_id": session,
          "model": option("--model") or "Auto", "permissionMode": "default"})
    emit({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": prompt}]},
          "session_id": session})
else:
    emit({"type": "system", "subtype": "init", "cwd": cwd, "session_id": session,
          "tools": ["Execute", "Read"], "model": option("--model") or "gpt-5-codex"})
    emit({"type": "message", "role": "user", "id": str(uuid.uuid4()), "text": prompt,
          "timestamp": now_ms(), "session_id": session})

for line in prompt.splitlines():
    action, _, rest = line.strip().partition(" ")
    if action == "history":
        action, rest = "say", f"resumed session with {len(turns)} earlier turns"
    if action == "say":
        if flavor == "amp":
            emit({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": rest}]},
                  "parent_tool_use_id": None, "session_id": session})
        elif flavor == "cursor":
            emit({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": rest}]},
                  "session_id": session, "timestamp_ms": now_ms()})
        else:
            emit({"type": "message", "role": "assistant", "id": str(uuid.uuid4()), "text": rest,
                  "timestamp": now_ms(), "session_id": session})
    elif action == "bash":
        call = "call_" + uuid.uuid4().hex[:16]
        if flavor == "amp":
            emit({"type": "assistant", "message": {"role": "assistant", "content": [
                {"type": "tool_use", "id": call, "name": "Bash", "input": {"cmd": rest}}]},
                "parent_tool_use_id": None, "session_id": session})
        elif flavor == "cursor":
            args_ = {"command": rest, "workingDirectory": "", "toolCallId": call}
            emit({"type": "tool_call", "subtype": "started", "call_id": call,
                  "tool_call": {"shellToolCall": {"args": args_}}, "session_id": session})
        else:
            emit({"type": "tool_call", "id": call, "messageId": str(uuid.uuid4()), "toolId": "Execute",
                  "toolName": "Execute", "parameters": {"command": rest}, "timestamp": now_ms(), "session_id": session})
        done = subprocess.run(["bash", "-c", rest], cwd=cwd, capture_output=True, text=True)
        if flavor == "amp":
            emit({"type": "user", "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call, "content": done.stdout + done.stderr,
                 "is_error": done.returncode != 0}]}, "parent_tool_use_id": None, "session_id": session})
        elif flavor == "cursor":
            result = {"success": {"command": rest, "exitCode": done.returncode, "stdout": done.stdout,
                                  "stderr": done.stderr, "interleavedOutput": done.stdout + done.stderr}}
            emit({"type": "tool_call", "subtype": "completed", "call_id": call,
                  "tool_call": {"shellToolCall": {"args": args_, "result": result}}, "session_id": session})
        else:
            emit({"type": "tool_result", "id": call, "messageId": str(uuid.uuid4()), "toolId": "",
                  "isError": done.returncode != 0, "value": done.stdout + done.stderr,
                  "timestamp": now_ms(), "session_id": session})

turns.append(prompt)
json.dump(turns, open(path, "w"))
if flavor == "amp":
    emit({"type": "result", "subtype": "success", "is_error": False, "duration_ms": 10, "num_turns": len(turns),
          "result": "done", "session_id": session})
elif flavor == "cursor":
    emit({"type": "result", "subtype": "success", "is_error": False, "duration_ms": 10, "result": "done",
          "session_id": session, "request_id": str(uuid.uuid4())})
else:
    emit({"type": "completion", "finalText": "done", "numTurns": len(turns), "durationMs": 10,
          "session_id": session, "timestamp": now_ms()})
