"""Least privilege, checked: every function of the SAM template has its own role with exactly
one inline policy; no statement allows a wildcard action or a bare "*" resource; and no policy
reaches a table or bucket its function does not use (named in its environment or events).

Run by `bash tests/run` as `python tests/iam_policies.py infra/template.yaml`. It also checks
itself: templates broken on purpose must be refused, or the check proves nothing.
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


def data_stores(template):
    """Tables and buckets: logical id -> the JSON of each way a policy may name it."""
    stores = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
            continue
        names = [f'"Ref": "{name}"', f'"{name}.Arn"', f'"{name}", "Arn"', f'"{name}.StreamArn"',
                 f'"{name}", "StreamArn"', "${" + name + "."]
        computed = resource.get("Properties", {}).get("BucketName")
        if isinstance(computed, dict):
            # Buckets named from the stack id are named the same way in the policies.
            names.append(json.dumps(computed, sort_keys=True))
        stores[name] = names
    return stores


def reaches(fragment, stores):
    text = json.dumps(fragment, sort_keys=True)
    return {name for name, ways in stores.items() if any(way in text for way in ways)}


def check(template):
    """The problems found, one line each."""
    problems = []
    resources = template["Resources"]
    stores = data_stores(template)
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    if not functions:
        problems.append("no functions found")
    for name, function in functions.items():
        props = function.get("Properties", {})
        if "Policies" in props:
            problems.append(f"{name}: uses SAM policies; give it a role of its own")
        role_ref = props.get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            problems.append(f"{name}: has no role of its own (Role: !GetAtt <role>.Arn)")
            continue
        role_name = role_ref["Fn::GetAtt"][0] if isinstance(role_ref["Fn::GetAtt"], list) \
            else role_ref["Fn::GetAtt"].split(".")[0]
        role = resources.get(role_name, {})
        role_props = role.get("Properties", {})
        if role_props.get("ManagedPolicyArns"):
            problems.append(f"{name}: its role has managed policies")
        policies = role_props.get("Policies", [])
        if len(policies) != 1:
            problems.append(f"{name}: its role has {len(policies)} inline policies, not one")
        users = [n for n, f in functions.items()
                 if json.dumps(f.get("Properties", {}).get("Role")) == json.dumps(role_ref)]
        if len(users) > 1:
            problems.append(f"{name}: shares its role with {users}")
        for policy in policies:
            statements = policy["PolicyDocument"]["Statement"]
            for statement in statements:
                sid = statement.get("Sid", "?")
                actions = statement.get("Action", [])
                actions = actions if isinstance(actions, list) else [actions]
                for action in actions:
                    if isinstance(action, str) and (action == "*" or action.endswith(":*")
                                                    or "*" in action):
                        problems.append(f"{name}/{sid}: wildcard action {action}")
                targets = statement.get("Resource", [])
                targets = targets if isinstance(targets, list) else [targets]
                if "*" in targets:
                    problems.append(f"{name}/{sid}: resource \"*\"")
                if statement.get("Effect") != "Allow":
                    continue
        used = reaches(props.get("Environment", {}), stores) | reaches(props.get("Events", {}), stores)
        reached = reaches(policies, stores)
        for extra in sorted(reached - used):
            problems.append(f"{name}: its policy reaches {extra}, which it does not use")
    return problems


def self_test(template):
    """Each of these templates is broken; the check must say so."""
    function = "CsvImportFunction"

    def statements(t, of=function):
        role = t["Resources"][of]["Properties"]["Role"]["Fn::GetAtt"][0]
        return t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]

    broken = []
    t = copy.deepcopy(template)
    statements(t).append({"Sid": "Oops", "Effect": "Allow", "Action": "s3:*",
                          "Resource": {"Fn::Sub": "${ImportBucket.Arn}/*"}})
    broken.append(("a wildcard action", t))
    t = copy.deepcopy(template)
    statements(t).append({"Sid": "Oops", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                          "Resource": "*"})
    broken.append(("a \"*\" resource", t))
    t = copy.deepcopy(template)
    # Delivery feedback reaches the table alone.
    statements(t, "DeliveryFeedbackFunction").append(
        {"Sid": "Oops", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": {"Fn::Sub": "${MailBucket.Arn}/*"}})
    broken.append(("a bucket the function does not use", t))
    t = copy.deepcopy(template)
    t["Resources"][function]["Properties"]["Policies"] = ["AmazonS3FullAccess"]
    broken.append(("SAM policies", t))
    failures = [what for what, t in broken if not check(t)]
    if failures:
        raise SystemExit(f"the IAM check missed: {', '.join(failures)}")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    template = load(path)
    self_test(template)
    problems = check(template)
    if problems:
        print("\n".join(problems))
        raise SystemExit(f"{path}: {len(problems)} IAM problem(s)")
    functions = sum(1 for r in template["Resources"].values()
                    if r["Type"] == "AWS::Serverless::Function")
    print(f"{path}: {functions} functions, each with one least-privilege policy")


if __name__ == "__main__":
    main()
