"""The stack's security settings, checked: what the security review asked of
`infra/template.yaml` stays there. cfn-lint and `sam validate` check that the template is valid;
this checks that it is safe.

Run by `bash tests/run` as `python tests/stack_checks.py infra/template.yaml`. It also checks
itself: a template with each setting removed must be refused, or the check proves nothing.
"""

import copy
import json
import sys

from cfnlint.decode import decode


def load(path):
    template, matches = decode(path)
    if matches:
        raise SystemExit(f"{path}: cannot read the template: {matches}")
    return json.loads(json.dumps(template, default=str))


def of_type(template, kind):
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def props(resource):
    return resource.get("Properties", {})


def check(template):
    """The problems found, one line each."""
    problems = []
    resources = template["Resources"]
    text = json.dumps

    # The alarm topic uses a key of the stack whose policy lets CloudWatch publish.
    for name, topic in of_type(template, "AWS::SNS::Topic").items():
        key = props(topic).get("KmsMasterKeyId")
        if not (isinstance(key, dict) and key.get("Ref") in resources):
            problems.append(f"{name}: not encrypted with a key of this stack (CloudWatch cannot publish to alias/aws/sns)")
            continue
        policy = text(props(resources[key["Ref"]]).get("KeyPolicy", {}))
        if "cloudwatch.amazonaws.com" not in policy:
            problems.append(f"{name}: its key's policy does not let CloudWatch use it")

    # Alarms on what clients and operators feel.
    alarms = [props(a) for a in of_type(template, "AWS::CloudWatch::Alarm").values()]
    functions = of_type(template, "AWS::Serverless::Function")

    def alarmed(namespace, metric, **extra):
        return any(
            a.get("Namespace") == namespace
            and a.get("MetricName") == metric
            and all(text(v) in text(a) for v in extra.values())
            for a in alarms
        )

    if not alarmed("AWS/ApiGateway", "5xx"):
        problems.append("no alarm on API Gateway 5xx")
    if not any(a.get("MetricName") == "Latency" and a.get("ExtendedStatistic") == "p99" for a in alarms):
        problems.append("no alarm on the API's p99 latency")
    if not (alarmed("AWS/DynamoDB", "ReadThrottleEvents") and alarmed("AWS/DynamoDB", "WriteThrottleEvents")):
        problems.append("no alarm on DynamoDB throttled requests")
    for name in functions:
        for metric in ("Throttles", "Duration", "Errors"):
            if not alarmed("AWS/Lambda", metric, ref={"Ref": name}):
                problems.append(f"{name}: no {metric} alarm")

    # Limits: API throttling and email-ingest's reserved concurrency, both parameters.
    for name, api in of_type(template, "AWS::Serverless::HttpApi").items():
        route = props(api).get("DefaultRouteSettings", {})
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            if not isinstance(route.get(limit), dict) or "Ref" not in route[limit]:
                problems.append(f"{name}: DefaultRouteSettings.{limit} is not a parameter")
        log = text(props(api).get("AccessLogSettings", {}))
        for variable in ("$context.authorizer.claims.sub", "$context.identity.sourceIp"):
            if variable not in log:
                problems.append(f"{name}: the access log does not record {variable}")
    for name, function in functions.items():
        if "EmailIngest" in name and "Ref" not in text(props(function).get("ReservedConcurrentExecutions")):
            problems.append(f"{name}: no reserved concurrency parameter")

    # SES: TLS required; only this stack's rule may invoke the function or write the bucket.
    for name, rule in of_type(template, "AWS::SES::ReceiptRule").items():
        if props(rule).get("Rule", {}).get("TlsPolicy") != "Require":
            problems.append(f"{name}: TlsPolicy is not Require")
    for name, permission in of_type(template, "AWS::Lambda::Permission").items():
        if props(permission).get("Principal") == "ses.amazonaws.com" and "SourceArn" not in props(permission):
            problems.append(f"{name}: SES may invoke the function without an aws:SourceArn condition")
    for name, policy in of_type(template, "AWS::S3::BucketPolicy").items():
        for statement in props(policy).get("PolicyDocument", {}).get("Statement", []):
            if "ses.amazonaws.com" in text(statement.get("Principal")) and "aws:SourceArn" not in text(statement):
                problems.append(f"{name}: SES may write without an aws:SourceArn condition")

    # The table: deletion protection.
    for name, table in of_type(template, "AWS::DynamoDB::Table").items():
        if props(table).get("DeletionProtectionEnabled") is not True:
            problems.append(f"{name}: DeletionProtectionEnabled is not true")

    # Cognito: users may not write the attributes replies are sent under (name, email).
    for name, client in of_type(template, "AWS::Cognito::UserPoolClient").items():
        writable = props(client).get("WriteAttributes")
        if writable is None or {"name", "email", "given_name", "family_name", "nickname"} & set(writable):
            problems.append(f"{name}: users may write their own name or email (WriteAttributes)")

    # Cognito: software-token MFA available.
    for name, pool in of_type(template, "AWS::Cognito::UserPool").items():
        if props(pool).get("MfaConfiguration") not in ("OPTIONAL", "ON") or "SOFTWARE_TOKEN_MFA" not in props(pool).get("EnabledMfas", []):
            problems.append(f"{name}: software-token MFA is not available")
    return problems


def self_test(template):
    """Each setting removed must be noticed."""
    def broken(change):
        copy_ = copy.deepcopy(template)
        change(copy_["Resources"])
        return check(copy_)

    def first(resources, kind):
        return next(r for r in resources.values() if r["Type"] == kind)["Properties"]

    breakages = {
        "managed SNS key": lambda r: first(r, "AWS::SNS::Topic").update(KmsMasterKeyId="alias/aws/sns"),
        "5xx alarm": lambda r: [r.pop(n) for n in [n for n, v in r.items() if v["Type"] == "AWS::CloudWatch::Alarm" and v["Properties"].get("MetricName") == "5xx"]],
        "TLS optional": lambda r: first(r, "AWS::SES::ReceiptRule")["Rule"].update(TlsPolicy="Optional"),
        "no SourceArn": lambda r: first(r, "AWS::Lambda::Permission").pop("SourceArn"),
        "no deletion protection": lambda r: first(r, "AWS::DynamoDB::Table").pop("DeletionProtectionEnabled"),
        "no throttling": lambda r: first(r, "AWS::Serverless::HttpApi").pop("DefaultRouteSettings"),
        "no caller in access log": lambda r: first(r, "AWS::Serverless::HttpApi")["AccessLogSettings"].update(Format="{}"),
        "users write their name": lambda r: first(r, "AWS::Cognito::UserPoolClient").update(WriteAttributes=["name"]),
        "users write every attribute": lambda r: first(r, "AWS::Cognito::UserPoolClient").pop("WriteAttributes"),
    }
    for label, change in breakages.items():
        if not broken(change):
            raise SystemExit(f"self-test: a template with '{label}' passed the check")


def main(path):
    template = load(path)
    self_test(template)
    problems = check(template)
    if problems:
        print("\n".join(problems))
        raise SystemExit(1)
    print(f"{path}: alarm encryption, alarms, limits, SES, table and Cognito settings in place")


if __name__ == "__main__":
    main(sys.argv[1])
