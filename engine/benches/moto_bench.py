"""Runs the benchmark workflow on moto's Step Functions interpreter and prints one JSON line.

Usage: moto_bench.py DEFINITION INPUTS N

Creates the state machine in moto's in-process mock (execute_state_machine=True), starts
N executions one after another (inputs used round-robin), waits for each to finish and
checks it succeeded. Prints {"executions": N, "seconds": S, "per_second": N/S, "moto": VERSION}.
"""
import json
import sys
import time

import boto3
import moto
from moto import mock_aws


def main():
    definition = open(sys.argv[1]).read()
    inputs = json.load(open(sys.argv[2]))
    n = int(sys.argv[3])
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="triage", definition=definition, roleArn="arn:aws:iam::123456789012:role/bench"
        )["stateMachineArn"]
        outputs = []
        start = time.perf_counter()
        for i in range(n):
            execution = sfn.start_execution(
                stateMachineArn=arn, name=f"bench-{i}", input=json.dumps(inputs[i % len(inputs)])
            )["executionArn"]
            while True:
                d = sfn.describe_execution(executionArn=execution)
                if d["status"] != "RUNNING":
                    break
                time.sleep(0.0005)
            if d["status"] != "SUCCEEDED":
                sys.exit(f"execution {i} ended {d['status']}: {d.get('error')} {d.get('cause')}")
            outputs.append(json.loads(d["output"]))
        seconds = time.perf_counter() - start
    print(json.dumps({"executions": n, "seconds": seconds, "per_second": n / seconds, "moto": moto.__version__,
                      "first_output": outputs[0]}))


if __name__ == "__main__":
    main()
