"""Drives a real tslab kernel as Jupyter does (jupyter_client), for test/kernelInterrupt.test.ts.

Each step executes one cell; an `interrupt` step sends Kernel > Interrupt (km.interrupt_kernel(),
SIGINT to the kernel's process group, as Jupyter does) once the cell has printed `interruptAfter`, then
listens for `quiet` seconds after the cell's reply for output that should not come. Writes a JSON
list to RESULT.json: per step, the reply status, the outputs and anything that arrived afterwards.

  python3 test/kernel-interrupt.py STEPS.json --kernel tslab --cwd notebooks/ --result RESULT.json
"""
import argparse
import json
import os
import queue
import sys
import time

from jupyter_client.manager import start_new_kernel

DEBUG = bool(os.environ.get('KERNEL_INTERRUPT_DEBUG'))


def text_of(message):
    content = message['content']
    kind = message['msg_type']
    if kind == 'stream':
        return content['text']
    if kind == 'error':
        return '\n'.join([f"{content['ename']}: {content['evalue']}", *content.get('traceback', [])])
    if kind in ('display_data', 'update_display_data', 'execute_result'):
        data = content.get('data', {})
        return data.get('text/plain') or data.get('text/html') or '<%s>' % ', '.join(data)
    return None


def run_step(km, client, step):
    msg_id = client.execute(step['code'], stop_on_error=False)
    outputs = []
    interrupted_at = None
    printed = ''
    deadline = time.time() + step.get('timeout', 120)
    while True:
        if time.time() > deadline:
            return {'status': 'timeout', 'outputs': outputs, 'late': []}
        try:
            message = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            message = None
        if message is not None and message['parent_header'].get('msg_id') == msg_id:
            kind = message['msg_type']
            if kind == 'status' and message['content']['execution_state'] == 'idle':
                break
            text = text_of(message)
            if text is not None and DEBUG:
                print(f'[{time.strftime("%X")}] {kind}: {text[:200]!r}', file=sys.stderr)
            if text is not None:
                outputs.append({'type': kind, 'name': message['content'].get('name'), 'text': text,
                                'afterInterrupt': interrupted_at is not None})
                if kind == 'stream':
                    printed += text
        after = step.get('interruptAfter')
        if after and interrupted_at is None and after in printed:
            time.sleep(step.get('interruptDelay', 0))
            km.interrupt_kernel()
            interrupted_at = time.time()
    stopped_at = time.time()
    reply = client.get_shell_msg(timeout=30)
    while reply['parent_header'].get('msg_id') != msg_id:  # e.g. a late kernel_info_reply
        reply = client.get_shell_msg(timeout=30)
    late = []
    quiet_until = time.time() + step.get('quiet', 0)
    while time.time() < quiet_until:
        try:
            message = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        text = text_of(message)
        if text is not None:
            late.append({'type': message['msg_type'], 'text': text})
    return {
        'status': reply['content']['status'],
        'outputs': outputs,
        'late': late,
        'secondsToStop': (stopped_at - interrupted_at) if interrupted_at else None,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('steps')
    parser.add_argument('--kernel', default='tslab')
    parser.add_argument('--cwd', required=True)
    parser.add_argument('--result', required=True)
    args = parser.parse_args()
    with open(args.steps, encoding='utf8') as file:
        steps = json.load(file)
    km, client = start_new_kernel(kernel_name=args.kernel, cwd=args.cwd, startup_timeout=90)
    results = []
    try:
        for step in steps:
            results.append(run_step(km, client, step))
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    with open(args.result, 'w', encoding='utf8') as file:
        json.dump(results, file)
    return 0


if __name__ == '__main__':
    sys.exit(main())
