"""Download of a county's Ministry package for data staff: ``GET /exchange/export?county=&year=``.

Thin: the exporter writes the package into a private temporary folder, the response streams
its .zip, and the folder is gone before the first byte is sent (the open file handle keeps
the zip readable until the response closes it). The export runs inside the request: a
100 000-parcel county takes some seconds (see ``bench/export_bench.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from accounts.permissions import has_capability
from accounts.scoping import in_jurisdiction
from layers.exchange.export import ExportError, export_package

COUNTY_CODE = re.compile(r"^\d{6}$")
YEAR = re.compile(r"^\d{4}$")
TEXT = "text/plain; charset=utf-8"


@login_required
@require_GET
def package_export(request: HttpRequest) -> HttpResponseBase:
    """The zip of ``{county6}{县名}/``; only for users with ``data.manage`` whose jurisdiction
    covers the whole county.

    Example: ``GET /exchange/export?county=310151&year=2020`` -> ``310151示范区.zip``
    """
    county = request.GET.get("county", "")
    year = request.GET.get("year", str(dt.date.today().year))
    if not COUNTY_CODE.match(county) or not YEAR.match(year):
        return HttpResponseBadRequest(
            "参数 county 应为6位县级代码，year 应为4位年份", content_type="text/plain; charset=utf-8"
        )
    if not has_capability(request.user, "data.manage") or not in_jurisdiction(request.user, county):
        raise PermissionDenied("只有管辖该县的数据管理员可以导出汇交成果包")
    workdir = Path(tempfile.mkdtemp(prefix="nongdi-export-"))
    try:
        result = export_package(county=county, year=int(year), out_dir=workdir, make_zip=True)
        assert result.zip_path is not None
        handle = result.zip_path.open("rb")
    except ExportError as exc:
        return HttpResponse(f"导出失败：{exc}", status=422, content_type=TEXT)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return FileResponse(handle, as_attachment=True, filename=result.zip_path.name, content_type="application/zip")
