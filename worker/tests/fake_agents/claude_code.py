#!/usr/bin/env python3
"""A stand-in for Claude Code (`claude -p --input-format stream-json --output-format
stream-json --verbose`) that speaks its wire protocol over stdio without a model.

The user message is a small script, one action per line:
  say <text>                 an assistant text block
  think <text>               a thinking block
  write <path> <content...>  a Write tool call (asks permission unless bypassed)
  bash <command...>          a Bash tool call, really run in the working directory
  env <NAME>                 says the value of an environment variable
  history                    says how many earlier turns the resumed session holds
  fail <text>                ends the turn with an error result and exits 0 (as some
                             agents do), so only the result tells the turn failed
  plan <text>                presents a plan (ExitPlanMode); in plan mode nothing is
                             written until the plan is approved, and a rejection ends the turn
Sessions are stored as JSON lines under $HOME/.claude/projects/<cwd>/<id>.jsonl, and
`--resume <id>` continues one (an unknown id is an error, as with the real tool).
"""
import json
import os
import subprocess
import sys
import uuid

args = sys.argv[1:]


def flag(name):
    return name in args


def option(name):
    if name in args:
        i = args.index(name)
        if i + 1 < len(args):
            return args[i + 1]
    return None


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if not (flag("-p") or flag("--print")) or option("--output-format") != "stream-json":
    sys.stderr.write("fake claude: expected -p --output-format stream-json\n")
    sys.exit(2)
if option("--input-format") == "stream-json" and not flag("--verbose"):
    sys.stderr.write("Error: When using --print, --output-format=stream-json requires --verbose\n")
    sys.exit(1)

cwd = os.getcwd()
home = os.environ.get("HOME", "/tmp")
project_dir = os.path.join(home, ".claude", "projects", cwd.replace("/", "-"))
os.makedirs(project_dir, exist_ok=True)
resume = option("--resume")
session_id = resume or str(uuid.uuid4())
session_file = os.path.join(project_dir, session_id + ".jsonl")
if resume and not os.path.exists(session_file):
    emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
          "session_id": session_id, "error": f"No conversation found with session ID: {resume}"})
    sys.exit(1)
history = []
if resume:
    with open(session_file) as f:
        history = [json.loads(line) for line in f if line.strip()]

permission_mode = [option("--permission-mode") or "default"]
prompt_tool = option("--permission-prompt-tool") == "stdio" and not flag("--dangerously-skip-permissions")


def ask_permission(tool):
    if not prompt_tool:
        return False
    if tool == "ExitPlanMode":
        return True
    return permission_mode[0] not in ("bypassPermissions", "acceptEdits")
model = option("--model") or "claude-sonnet-4-5"
emit({"type": "system", "subtype": "init", "cwd": cwd, "session_id": session_id, "model": model,
      "tools": ["Bash", "Write", "Read", "ExitPlanMode"], "permissionMode": permission_mode[0], "apiKeySource": "none"})

counter = [0]
stdin_lines = iter(sys.stdin.readline, "")


def next_message():
    for raw in stdin_lines:
        raw = raw.strip()
        if not raw:
            continue
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            sys.stderr.write(f"fake claude: unreadable input line: {raw[:80]}\n")
    return None


def tool_id():
    counter[0] += 1
    return f"toolu_{session_id[:8]}_{counter[0]}"


def assistant(blocks):
    emit({"type": "assistant", "session_id": session_id, "parent_tool_use_id": None,
          "message": {"id": "msg_" + uuid.uuid4().hex[:12], "role": "assistant", "model": model,
                      "content": blocks}})


def tool_result(tid, content, is_error=False):
    emit({"type": "user", "session_id": session_id, "parent_tool_use_id": None,
          "message": {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": tid, "content": content, "is_error": is_error}]}})


def permitted(tool, tid, tool_input):
    """Asks the controller through a can_use_tool control request; True when allowed."""
    if not ask_permission(tool):
        return True, None
    request_id = "req_" + uuid.uuid4().hex[:10]
    emit({"type": "control_request", "request_id": request_id,
          "request": {"subtype": "can_use_tool", "tool_name": tool, "input": tool_input, "tool_use_id": tid}})
    while True:
        msg = next_message()
        if msg is None:
            return False, "stdin closed while waiting for permission"
        if msg.get("type") == "control_response":
            response = msg.get("response", {})
            if response.get("request_id") != request_id:
                continue
            decision = response.get("response", {})
            if decision.get("behavior") == "allow":
                return True, None
            return False, decision.get("message", "denied")
        if msg.get("type") == "control_request" and msg.get("request", {}).get("subtype") == "interrupt":
            return False, "interrupted"


def run_turn(prompt):
    usage = {"input_tokens": 10 * (len(prompt.split()) + 1), "output_tokens": 0}
    for line in prompt.splitlines():
        action, _, rest = line.strip().partition(" ")
        if not action:
            continue
        usage["output_tokens"] += 7
        if action == "say":
            assistant([{"type": "text", "text": rest}])
        elif action == "think":
            assistant([{"type": "thinking", "thinking": rest, "signature": "fake"}])
        elif action == "fail":
            emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
                  "session_id": session_id, "error": rest})
            sys.exit(0)
        elif action == "plan":
            tid = tool_id()
            tool_input = {"plan": rest}
            assistant([{"type": "tool_use", "id": tid, "name": "ExitPlanMode", "input": tool_input}])
            ok, why = permitted("ExitPlanMode", tid, tool_input)
            if ok:
                permission_mode[0] = "acceptEdits"
                tool_result(tid, "User has approved your plan. You can now start coding.")
            else:
                tool_result(tid, f"The user doesn't want to proceed with this plan. {why}", True)
                assistant([{"type": "text", "text": "plan rejected; stopping"}])
                return usage
        elif permission_mode[0] == "plan" and action in ("write", "bash"):
            assistant([{"type": "text", "text": f"plan mode: not running {action} before the plan is approved"}])
        elif action == "write":
            path, _, content = rest.partition(" ")
            tid = tool_id()
            tool_input = {"file_path": os.path.join(cwd, path), "content": content + "\n"}
            assistant([{"type": "tool_use", "id": tid, "name": "Write", "input": tool_input}])
            ok, why = permitted("Write", tid, tool_input)
            if ok:
                os.makedirs(os.path.dirname(tool_input["file_path"]) or ".", exist_ok=True)
                with open(tool_input["file_path"], "w") as f:
                    f.write(tool_input["content"])
                tool_result(tid, f"File created successfully at: {tool_input['file_path']}")
            else:
                tool_result(tid, f"Permission to use Write has been denied. {why}", True)
        elif action == "bash":
            tid = tool_id()
            tool_input = {"command": rest, "description": "Run a command"}
            assistant([{"type": "tool_use", "id": tid, "name": "Bash", "input": tool_input}])
            ok, why = permitted("Bash", tid, tool_input)
            if ok:
                done = subprocess.run(["bash", "-c", rest], cwd=cwd, capture_output=True, text=True)
                out = (done.stdout + done.stderr).rstrip("\n")
                tool_result(tid, out if done.returncode == 0 else f"Error: {out}", done.returncode != 0)
            else:
                tool_result(tid, f"Permission to use Bash has been denied. {why}", True)
        elif action == "env":
            assistant([{"type": "text", "text": f"{rest}={os.environ.get(rest, '')}"}])
        elif action == "history":
            turns = sum(1 for h in history if h.get("role") == "user") - 1  # not this one
            assistant([{"type": "text", "text": f"resumed session with {turns} earlier turns"}])
        else:
            assistant([{"type": "text", "text": f"I do not know how to {action}"}])
    return usage


while True:
    msg = next_message()
    if msg is None:
        break
    kind = msg.get("type")
    if kind == "control_request":
        request = msg.get("request", {})
        emit({"type": "control_response", "response": {
            "subtype": "success", "request_id": msg.get("request_id"), "response": {}}})
        if request.get("subtype") == "interrupt":
            emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
                  "session_id": session_id, "error": "interrupted"})
            sys.exit(130)
        continue
    if kind != "user":
        continue
    content = msg.get("message", {}).get("content", "")
    if isinstance(content, list):
        content = "\n".join(b.get("text", "") for b in content if b.get("type") == "text")
    history.append({"role": "user", "content": content})
    usage = run_turn(content)
    history.append({"role": "assistant", "content": "done"})
    with open(session_file, "w") as f:
        for h in history:
            f.write(json.dumps(h) + "\n")
    emit({"type": "result", "subtype": "success", "is_error": False, "session_id": session_id,
          "result": "done", "num_turns": len(history) // 2, "duration_ms": 5,
          "total_cost_usd": 0.0001 * (usage["input_tokens"] + usage["output_tokens"]), "usage": usage})
