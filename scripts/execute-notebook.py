"""Executes one notebook with nbclient (Jupyter's own executor) and always writes the executed copy.

Used by scripts/run-notebooks.ts instead of `jupyter nbconvert --execute`, because with the tslab
kernel nbconvert
  - writes nothing when a cell fails (and --allow-errors is unreliable with tslab), and
  - leaves every execution count empty (tslab sends no execute_input message).
Here the notebook is written in every case, up to and including the failing cell with its error
output in place, code cells are numbered in order, and a JSON summary of the failure goes to a file.

Ctrl-C (SIGINT from the terminal, which the kernel in its own process group does not get) is passed
on as Jupyter's Kernel > Interrupt: SIGINT to the kernel's process group. The running cell then
stops with its one-line message (lib/core/interrupt.ts), no further cell starts, and the summary
says "interrupted" with the cell. A second Ctrl-C shuts the kernel down at once.

  python3 execute-notebook.py IN.ipynb OUT.ipynb RESULT.json --kernel tslab --timeout 3600 --cwd DIR
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import traceback

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


def stream_text(cell, name):
    return ''.join(
        output.get('text', '')
        for output in cell.get('outputs', [])
        if output.get('output_type') == 'stream' and output.get('name') == name
    )


def code_cell_number(notebook, index):
    if index is None:
        return None
    return sum(1 for c in notebook.cells[: index + 1] if c.cell_type == 'code')


def error_outputs(cell):
    return [output for output in cell.get('outputs', []) if output.get('output_type') == 'error']


class Interrupted(Exception):
    """Ctrl-C arrived between cells: the next one is not started."""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('notebook')
    parser.add_argument('output')
    parser.add_argument('result')
    parser.add_argument('--kernel', default='tslab')
    parser.add_argument('--timeout', type=int, default=3600)
    parser.add_argument('--cwd', required=True)
    args = parser.parse_args()

    notebook = nbformat.read(args.notebook, as_version=4)
    # Outputs left in the source notebook are not this run's: clear them before running.
    for cell in notebook.cells:
        if cell.cell_type == 'code':
            cell.outputs = []
            cell.execution_count = None
    client = NotebookClient(
        notebook,
        kernel_name=args.kernel,
        timeout=args.timeout,
        allow_errors=False,
        resources={'metadata': {'path': args.cwd}},
    )
    state = {'index': None, 'interrupted': False}

    def on_cell_execute(cell, cell_index, **_):
        if state['interrupted']:
            raise Interrupted()
        state['index'] = cell_index

    def on_sigint():
        if state['interrupted']:
            # A second Ctrl-C: what nbclient does by default, shut the kernel down now.
            asyncio.ensure_future(client._async_cleanup_kernel())
            return
        state['interrupted'] = True
        process = getattr(getattr(client.km, 'provisioner', None), 'process', None)
        if process is not None:
            try:
                os.killpg(os.getpgid(process.pid), signal.SIGINT)  # what Kernel > Interrupt does
            except OSError:
                pass

    def on_notebook_start(**_):
        # Replaces nbclient's own SIGINT handler, which shuts the kernel down at once.
        asyncio.get_event_loop().add_signal_handler(signal.SIGINT, on_sigint)

    client.on_notebook_start = on_notebook_start
    client.on_cell_execute = on_cell_execute
    result = {'status': 'ok'}
    try:
        client.execute()
    except Interrupted:
        index = state['index']
        cell = notebook.cells[index] if index is not None else None
        result = {
            'status': 'interrupted',
            'cellIndex': index,
            'codeCellNumber': code_cell_number(notebook, index),
            'source': cell.source if cell is not None else '',
            'stderr': stream_text(cell, 'stderr') if cell is not None else '',
            'message': 'interrupted between cells' if index is not None else 'interrupted before the first cell',
        }
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        index = state['index']
        cell = notebook.cells[index] if index is not None else None
        kind = {
            CellExecutionError: 'error',
            CellTimeoutError: 'timeout',
            DeadKernelError: 'dead kernel',
        }[type(error)]
        if state['interrupted']:
            kind = 'interrupted'  # the cell ended with its "... interrupted ..." line
        errors = error_outputs(cell) if cell is not None else []
        result = {
            'status': kind,
            'cellIndex': index,
            'codeCellNumber': code_cell_number(notebook, index),
            'source': cell.source if cell is not None else '',
            'stderr': stream_text(cell, 'stderr') if cell is not None else '',
            'ename': getattr(error, 'ename', errors[0].get('ename') if errors else ''),
            'evalue': getattr(error, 'evalue', errors[0].get('evalue') if errors else ''),
            'message': str(error).splitlines()[0] if kind not in ('error', 'interrupted') else '',
        }
    except Exception as error:  # the kernel did not start, the notebook could not be read...
        if os.environ.get('CXR_DEBUG'):
            traceback.print_exc()
        result = {'status': 'not run', 'message': f'{type(error).__name__}: {error}'}
    finally:
        nbformat.write(notebook, args.output)
        with open(args.result, 'w', encoding='utf8') as file:
            json.dump(result, file)
    return {'ok': 0, 'interrupted': 130}.get(result['status'], 1)


if __name__ == '__main__':
    sys.exit(main())
