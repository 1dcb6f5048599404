#!/usr/bin/env python3
"""Start moto's AWS emulator in this process, completed for what the project needs.

Usage: moto_server.py [-H HOST] [-p PORT]   (moto_server's own options)

moto 5.2 does not implement two Step Functions calls that Terraform's AWS
provider makes for aws_sfn_state_machine (ValidateStateMachineDefinition,
ListStateMachineVersions): without answers, `terraform apply` retries forever.
They are answered here (a definition is always valid; no versions are published).

With MOTO_PARENT_PID set, the server exits when that process is gone, so a
test run that is killed never leaves an emulator behind.
"""
import os
import sys
import threading
import time

from moto.core.responses import ActionResult
from moto.stepfunctions.responses import StepFunctionResponse


def validate_state_machine_definition(self):
    return ActionResult({"result": "OK", "diagnostics": [], "truncated": False})


def list_state_machine_versions(self):
    return ActionResult({"stateMachineVersions": []})


StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
StepFunctionResponse.list_state_machine_versions = list_state_machine_versions


def exit_with_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)
        if os.getppid() == 1:
            os._exit(0)
        time.sleep(0.5)


if __name__ == "__main__":
    parent = int(os.environ.get("MOTO_PARENT_PID", "0") or 0)
    if parent:
        threading.Thread(target=exit_with_parent, args=(parent,), daemon=True).start()
    from moto.server import main

    main(sys.argv[1:])
