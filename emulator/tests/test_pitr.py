"""DynamoDB point-in-time recovery from a real item history: the restorable
window, RestoreTableToPointInTime at a time, every write path recorded,
transactions recorded whole, disabling PITR dropping the history."""

import time

import pytest
from botocore.exceptions import ClientError
from conftest import make_table

PITR_DESCRIPTION = ("PointInTimeRecoveryDescription - Amazon DynamoDB, "
                    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PointInTimeRecoveryDescription.html")


def enable(ddb, name):
    ddb.update_continuous_backups(TableName=name,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def tick():
    """An instant strictly between the writes before and after it."""
    time.sleep(0.02)
    at = time.time()
    time.sleep(0.02)
    return at


def items_of(ddb, name):
    out = {}
    for item in ddb.scan(TableName=name)["Items"]:
        out[item["pk"]["S"]] = {k: v for k, v in item.items() if k != "pk"}
    return out


def test_window_lags_five_minutes_by_default_and_is_configurable(aws, control):
    """"EarliestRestorableDateTime: Specifies the earliest point in time you
    can restore your table to." "LatestRestorableDateTime is typically 5
    minutes before the current time." (PointInTimeRecoveryDescription -
    Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PointInTimeRecoveryDescription.html.)
    Right after PITR is enabled nothing older than that instant exists, so
    the latest restorable time is no earlier than the earliest one ("you can
    only immediately restore that table using the LatestRestorableDateTime",
    Point-in-time recovery: How it works,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html)."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "win", 1)
    before = time.time()
    enable(ddb, "win")
    assert control.get("/pitr", f"account={aws.account}")["lag_seconds"] == 300
    desc = ddb.describe_continuous_backups(TableName="win")["ContinuousBackupsDescription"]
    pitr = desc["PointInTimeRecoveryDescription"]
    earliest = pitr["EarliestRestorableDateTime"].timestamp()
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    assert before - 1 <= earliest <= time.time()
    assert pitr["LatestRestorableDateTime"].timestamp() == pytest.approx(earliest, abs=0.01)

    control.post("/pitr", {"account": aws.account, "lag_seconds": 1})
    time.sleep(1.5)
    latest = ddb.describe_continuous_backups(TableName="win")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"].timestamp()
    assert time.time() - 1.2 <= latest <= time.time() - 0.9
    control.post("/reset", {"account": aws.account})
    assert control.get("/pitr", f"account={aws.account}")["lag_seconds"] == 300


def test_restore_to_a_point_in_time_sees_every_write_path(aws, control):
    """"When you restore using point-in-time recovery, DynamoDB restores your
    table data to the state based on the selected date and time
    (day:hour:minute:second) to a new table." (Point-in-time recovery: How it
    works - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html.)
    RestoreDateTime: "Time in the past to restore the table to."
    UseLatestRestorableTime: "Restore the table to the latest possible time."
    (RestoreTableToPointInTime - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html.)"""
    ddb = aws.client("dynamodb")
    make_table(ddb, "src", 3)
    enable(ddb, "src")
    control.post("/pitr", {"account": aws.account, "lag_seconds": 0})
    t0 = tick()
    ddb.put_item(TableName="src", Item={"pk": {"S": "put"}, "v": {"N": "1"}})
    ddb.update_item(TableName="src", Key={"pk": {"S": "item-0"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "100"}})
    t1 = tick()
    ddb.delete_item(TableName="src", Key={"pk": {"S": "item-1"}})
    ddb.batch_write_item(RequestItems={"src": [
        {"PutRequest": {"Item": {"pk": {"S": "batch"}}}},
        {"DeleteRequest": {"Key": {"pk": {"S": "item-2"}}}}]})
    t2 = tick()
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "src", "Item": {"pk": {"S": "tx"}}}},
        {"Update": {"TableName": "src", "Key": {"pk": {"S": "item-0"}}, "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "200"}}}}])
    ddb.execute_statement(Statement="INSERT INTO \"src\" VALUE {'pk': 'partiql'}")
    ddb.execute_statement(Statement="UPDATE \"src\" SET v = ? WHERE pk = ?",
                          Parameters=[{"N": "7"}, {"S": "put"}])
    t3 = tick()
    ddb.update_item(TableName="src", Key={"pk": {"S": "item-0"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "300"}})

    expected = {
        t0: {"item-0": {"v": {"N": "0"}}, "item-1": {"v": {"N": "1"}}, "item-2": {"v": {"N": "2"}}},
        t1: {"item-0": {"v": {"N": "100"}}, "item-1": {"v": {"N": "1"}}, "item-2": {"v": {"N": "2"}},
             "put": {"v": {"N": "1"}}},
        t2: {"item-0": {"v": {"N": "100"}}, "put": {"v": {"N": "1"}}, "batch": {}},
        t3: {"item-0": {"v": {"N": "200"}}, "put": {"v": {"N": "7"}}, "batch": {}, "tx": {}, "partiql": {}},
    }
    for n, (at, items) in enumerate(expected.items()):
        out = ddb.restore_table_to_point_in_time(SourceTableName="src", TargetTableName=f"src-t{n}",
                                                 RestoreDateTime=at)["TableDescription"]
        assert out["RestoreSummary"]["RestoreDateTime"].timestamp() == pytest.approx(at, abs=0.002)
        assert items_of(ddb, f"src-t{n}") == items, f"t{n}"
    time.sleep(0.02)
    arn = ddb.describe_table(TableName="src")["Table"]["TableArn"]
    ddb.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="src-latest",
                                       UseLatestRestorableTime=True)
    assert items_of(ddb, "src-latest") == items_of(ddb, "src")
    assert items_of(ddb, "src-latest")["item-0"] == {"v": {"N": "300"}}
    # the restored tables are tables of their own: writing to one changes no history
    ddb.update_item(TableName="src-t0", Key={"pk": {"S": "item-0"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "9"}})
    ddb.restore_table_to_point_in_time(SourceTableName="src", TargetTableName="src-t0-again", RestoreDateTime=t0)
    assert items_of(ddb, "src-t0-again") == expected[t0]


def test_a_cancelled_transaction_leaves_no_trace(aws, control):
    """"TransactWriteItems is a synchronous write operation that groups up
    to 100 action requests. ... The actions are completed atomically so that
    either all of them succeed, or all of them fail." (TransactWriteItems -
    Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html.)
    A cancelled transaction wrote nothing at any instant."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "txn", 1)
    enable(ddb, "txn")
    control.post("/pitr", {"account": aws.account, "lag_seconds": 0})
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "txn", "Item": {"pk": {"S": "ghost"}}}},
            {"Put": {"TableName": "txn", "Item": {"pk": {"S": "item-0"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}}])
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    time.sleep(0.02)
    ddb.restore_table_to_point_in_time(SourceTableName="txn", TargetTableName="txn-r",
                                       UseLatestRestorableTime=True)
    assert set(items_of(ddb, "txn-r")) == {"item-0"}


def test_restore_time_outside_the_window_and_no_pitr_are_refused(aws, control):
    """Errors of RestoreTableToPointInTime: "InvalidRestoreTimeException: An
    invalid restore time was specified. RestoreDateTime must be between
    EarliestRestorableDateTime and LatestRestorableDateTime." and
    "PointInTimeRecoveryUnavailableException: Point in time recovery has not
    yet been enabled for this source table." (RestoreTableToPointInTime -
    Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html.)"""
    ddb = aws.client("dynamodb")
    make_table(ddb, "nopitr", 1)
    with pytest.raises(ClientError) as err:
        ddb.restore_table_to_point_in_time(SourceTableName="nopitr", TargetTableName="xx1",
                                           UseLatestRestorableTime=True)
    assert err.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"

    make_table(ddb, "withpitr", 1)
    before = time.time() - 5
    enable(ddb, "withpitr")
    control.post("/pitr", {"account": aws.account, "lag_seconds": 60})
    for when in (before, time.time(), time.time() + 3600):
        with pytest.raises(ClientError) as err:
            ddb.restore_table_to_point_in_time(SourceTableName="withpitr", TargetTableName="xx2",
                                               RestoreDateTime=when)
        assert err.value.response["Error"]["Code"] == "InvalidRestoreTimeException"
    assert "xx2" not in ddb.list_tables()["TableNames"]


def test_disabling_pitr_drops_the_history(aws, control):
    """"If you disable point-in-time recovery and later re-enable it on a
    table, you reset the start time for which you can recover that table.
    As a result, you can only immediately restore that table using the
    LatestRestorableDateTime." (Point-in-time recovery: How it works -
    Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html.)"""
    ddb = aws.client("dynamodb")
    make_table(ddb, "reset", 2)
    enable(ddb, "reset")
    control.post("/pitr", {"account": aws.account, "lag_seconds": 0})
    old = tick()
    ddb.put_item(TableName="reset", Item={"pk": {"S": "later"}})
    ddb.update_continuous_backups(TableName="reset",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    off = ddb.describe_continuous_backups(TableName="reset")["ContinuousBackupsDescription"]
    assert off["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert [t for t in control.get("/pitr", f"account={aws.account}")["tables"] if t["table"] == "reset"] == []
    enable(ddb, "reset")
    earliest = ddb.describe_continuous_backups(TableName="reset")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"].timestamp()
    assert earliest > old
    with pytest.raises(ClientError) as err:
        ddb.restore_table_to_point_in_time(SourceTableName="reset", TargetTableName="rr1", RestoreDateTime=old)
    assert err.value.response["Error"]["Code"] == "InvalidRestoreTimeException"
    ddb.restore_table_to_point_in_time(SourceTableName="reset", TargetTableName="rr2",
                                       UseLatestRestorableTime=True)
    assert set(items_of(ddb, "rr2")) == {"item-0", "item-1", "later"}


def test_the_history_shares_items_instead_of_copying_the_table(aws, control):
    """Memory stays proportional to the writes: a history holds references
    to the items as they were (the table is not copied per write). What AWS
    keeps is "continuous backups" of the table for the recovery period
    ("When enabled, point-in-time recovery provides continuous backups until
    you explicitly turn it off.", Point-in-time recovery: How it works -
    Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html)."""
    from moto.dynamodb.models import dynamodb_backends

    from drctl_moto import pitr

    ddb = aws.client("dynamodb")
    make_table(ddb, "shared", 50)
    enable(ddb, "shared")
    table = dynamodb_backends[aws.account]["us-east-1"].tables["shared"]
    history = pitr.history_of(table)
    live = {k: v for k, v in table.items.items()}
    assert all(history.base[(k, None)] is live[k] for k in live), "the base is the live items, not copies"
    for i in range(5):
        ddb.update_item(TableName="shared", Key={"pk": {"S": "item-7"}}, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"N": str(1000 + i)}})
    stats = [t for t in control.get("/pitr", f"account={aws.account}")["tables"] if t["table"] == "shared"][0]
    assert (stats["base_items"], stats["keys_written"], stats["entries"]) == (50, 1, 5)
    # the base item was not changed in place by the updates (copy on write)
    assert live[next(k for k in live if k.value == "item-7")].attrs["v"].value == "7"


def test_the_window_starts_no_earlier_than_the_recovery_period(aws, control):
    """RecoveryPeriodInDays: "The number of preceding days for which
    continuous backups are taken and maintained. Your table data is only
    recoverable to any point-in-time from within the configured recovery
    period." (PointInTimeRecoveryDescription - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PointInTimeRecoveryDescription.html.)
    The control API's retention_seconds shortens that period (to bound the
    history's memory); what lies before it is folded into the history's
    base."""
    ddb = aws.client("dynamodb")
    make_table(ddb, "short", 1)
    enable(ddb, "short")
    enabled = time.time()
    control.post("/pitr", {"account": aws.account, "lag_seconds": 0, "retention_seconds": 0.5})
    ddb.put_item(TableName="short", Item={"pk": {"S": "old"}})
    ddb.delete_item(TableName="short", Key={"pk": {"S": "item-0"}})
    time.sleep(0.7)
    ddb.put_item(TableName="short", Item={"pk": {"S": "new"}})
    pitr = ddb.describe_continuous_backups(TableName="short")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]
    earliest = pitr["EarliestRestorableDateTime"].timestamp()
    assert earliest == pytest.approx(time.time() - 0.5, abs=0.1) and earliest > enabled + 0.1
    with pytest.raises(ClientError) as err:
        ddb.restore_table_to_point_in_time(SourceTableName="short", TargetTableName="short-old",
                                           RestoreDateTime=enabled + 0.1)
    assert err.value.response["Error"]["Code"] == "InvalidRestoreTimeException"
    ddb.restore_table_to_point_in_time(SourceTableName="short", TargetTableName="short-earliest",
                                       RestoreDateTime=earliest + 0.2)
    assert set(items_of(ddb, "short-earliest")) == {"old"}
    stats = [t for t in control.get("/pitr", f"account={aws.account}")["tables"] if t["table"] == "short"][0]
    assert (stats["base_items"], stats["entries"]) == (1, 1)
