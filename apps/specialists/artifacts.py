"""A finished run's artifacts copied to an S3-compatible bucket, when ARTIFACT_S3_BUCKET is set (boto3
must then be installed on the workers). Local copies stay under ARTIFACT_ROOT/training/<run id>/."""

from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def s3_client() -> Any:
    """A boto3 client for the configured bucket; None when no bucket is configured."""
    if not settings.ARTIFACT_S3_BUCKET:
        return None
    try:
        import boto3
    except ImportError as exc:
        raise ImproperlyConfigured(
            "ARTIFACT_S3_BUCKET is set but boto3 is not installed on this worker: pip install boto3, "
            "or unset ARTIFACT_S3_BUCKET to keep artifacts on local disk only"
        ) from exc
    return boto3.client(
        "s3",
        endpoint_url=settings.ARTIFACT_S3_ENDPOINT_URL or None,
        region_name=settings.ARTIFACT_S3_REGION or None,
        aws_access_key_id=settings.ARTIFACT_S3_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.ARTIFACT_S3_SECRET_ACCESS_KEY or None,
    )


def artifacts_upload(*, client: Any, folder: Path, run_id: UUID | str) -> str:
    """Copy a finished artifact folder to s3://bucket/prefix/training/<run id>/<folder name>/."""
    bucket = settings.ARTIFACT_S3_BUCKET
    prefix = "/".join(p for p in (settings.ARTIFACT_S3_PREFIX, "training", str(run_id), folder.name) if p)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return f"s3://{bucket}/{prefix}"
