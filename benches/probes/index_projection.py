#!/usr/bin/env python3
"""What an index's projection does to write units, as dynoxide meters them (#28's one lever).

Usage: index_projection.py [DYNAMODB_ENDPOINT]   (default http://127.0.0.1:5056; dynoxide as
`bash tests/run` starts it, or `.tools/dynoxide-*/bin/dynoxide --port 5056`)

Two throwaway tables with the customer table's three listing indexes (`listing` by email,
`by_first`, `by_last`), the name indexes projecting the whole item in one and keys only in the
other. One 950-byte customer item is created, updated without touching its names, then with a
new first name; each put prints the WRU DynamoDB reports (ReturnConsumedCapacity=INDEXES).
Measured 2026-12-07: whole-item name indexes 4.0 / 4.0 / 5.0, keys-only 4.0 / 2.0 / 4.0.
"""

import json
import sys

import boto3

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5056"
client = boto3.client("dynamodb", endpoint_url=ENDPOINT, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
KEYS = ["pk", "sk", "list_pk", "list_sk", "first_sk", "last_sk"]


def index(name, sort_key, projection):
    return {"IndexName": name,
            "KeySchema": [{"AttributeName": "list_pk", "KeyType": "HASH"},
                          {"AttributeName": sort_key, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": projection}}


def make_table(name, name_projection):
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in KEYS],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[index("listing", "list_sk", "ALL"),
                                index("by_first", "first_sk", name_projection),
                                index("by_last", "last_sk", name_projection)])


def customer(phone, first="Ann"):
    email = "ann@example.test"
    return {"pk": {"S": f"EMAIL#{email}"}, "sk": {"S": "#"},
            "list_pk": {"S": "CUSTOMERS#1"}, "list_sk": {"S": email},
            "first_sk": {"S": f"{first.lower()}\x01{email}"}, "last_sk": {"S": f"lee\x01{email}"},
            "doc": {"S": "x" * 800}, "phone": {"S": phone}}


def main():
    print("| name indexes project | write | WRU | by index |")
    print("|---|---|---|---|")
    for projection in ["ALL", "KEYS_ONLY"]:
        table = f"probe_projection_{projection.lower()}"
        make_table(table, projection)
        for what, item in [("new item", customer("1")),
                           ("update keeping the names", customer("2")),
                           ("update of the first name", customer("3", "Annie"))]:
            used = client.put_item(TableName=table, Item=item,
                                   ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
            by_index = {k: v["CapacityUnits"] for k, v in used.get("GlobalSecondaryIndexes", {}).items()}
            print(f"| {projection} | {what} | {used['CapacityUnits']} | {json.dumps(by_index, sort_keys=True)} |")
        client.delete_table(TableName=table)


if __name__ == "__main__":
    main()
