"""Fleet screen layout at 80x24 (and without colour), with the clock frozen and fixed records in a
bucket of a fixed name (the summary never shows the moto port)."""

from __future__ import annotations


import boto3
import pytest

from screens.app import BackupConsoleApp
from tests.fleet_fixtures import fleet_records, put_records
from tests.screens.conftest import FROZEN_NOW, fixed_prober, frozen_clock, redraw_tables

BUCKET = "bc-fleet-snapshot"


@pytest.fixture
def fleet_bucket(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3 = {"s3.bucket": BUCKET, "s3.endpoint_url": s3_endpoint, "s3.region": "us-east-1"}
    put_records(s3, fleet_records(FROZEN_NOW.timestamp()))
    return s3


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.3)
    await redraw_tables(pilot)


def _app(make_settings, fleet_bucket):
    return BackupConsoleApp(make_settings(fleet_bucket), clock=frozen_clock, prober=fixed_prober(),
                            start_screen="fleet")


def test_fleet_80x24(snap_compare, make_settings, fleet_bucket):
    assert snap_compare(_app(make_settings, fleet_bucket), terminal_size=(80, 24), run_before=_settle)


def test_fleet_80x24_no_color(snap_compare, make_settings, fleet_bucket, no_color):
    test_fleet_80x24(snap_compare, make_settings, fleet_bucket)
