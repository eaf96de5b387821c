/*
 * 经办查询 (clerk map): search by DKBM, contractor name, certificate number or village; click a
 * parcel to open its dossier (attributes, contractor household and members, contract, register
 * entry and certificate, transfers, change history); double-click zooms to the parcel; links
 * into the registration work.
 */
(function () {
  "use strict";

  var N = window.Nongdi;
  var el = N.el;
  var MAP_ID = "work-map";

  function setup(map) {
    var cfg = N.readConfig("work-map-config");
    var ws = N.workspace(map, cfg);
    var highlight = N.highlighter(map);
    var container = map.getContainer();
    var dossierBox = document.getElementById("dossier");
    var muDecimals = cfg.muDecimals === undefined ? 2 : cfg.muDecimals;
    var current = null; // {code, feature}
    var selectSeq = 0;

    // Double-click belongs to the parcel (zoom to it), not to Leaflet's zoom-in.
    map.doubleClickZoom.disable();
    container.setAttribute("data-state", "ready");

    function identify(latlng) {
      return N.api("GET", cfg.urls.at + "?lng=" + latlng.lng.toFixed(9) + "&lat=" + latlng.lat.toFixed(9));
    }

    function zoomTo(bbox) {
      if (!bbox) return;
      map.fitBounds(N.bboxToBounds(bbox), { padding: [40, 40], maxZoom: 19 });
    }

    map.on("click", function (event) {
      if (map.getZoom() < ws.parcelMinZoom - 1) {
        ws.status("请先放大地图，再单击地块", "notice");
        return;
      }
      var seq = ++selectSeq;
      identify(event.latlng).then(function (result) {
        if (seq !== selectSeq) return;
        if (result.status === 404) {
          ws.status("此处没有地块");
          return;
        }
        if (!result.ok) {
          ws.status(N.errorMessage(result), "notice");
          return;
        }
        showParcel(result.data.id, result.data);
      });
    });

    map.on("dblclick", function (event) {
      var seq = ++selectSeq;
      identify(event.latlng).then(function (result) {
        if (seq !== selectSeq || !result.ok) return;
        showParcel(result.data.id, result.data);
        zoomTo(result.data.bbox);
      });
    });

    // --- search -------------------------------------------------------------------------------

    var form = document.getElementById("search-form");
    var input = document.getElementById("search-input");
    var list = document.getElementById("search-results");
    var searchState = document.getElementById("search-state");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = input.value.trim();
      if (!q) return;
      searchState.textContent = "正在查找…";
      list.textContent = "";
      N.api("GET", cfg.urls.search + "?q=" + encodeURIComponent(q)).then(function (result) {
        if (!result.ok) {
          searchState.textContent = N.errorMessage(result);
          return;
        }
        var hits = result.data.results;
        searchState.textContent = hits.length ? "找到 " + hits.length + " 个结果" : "没有找到与“" + q + "”相符的地块或区域";
        hits.forEach(function (hit) {
          var item = el("li");
          var button = el("button");
          button.type = "button";
          button.setAttribute("data-kind", hit.kind);
          button.setAttribute("data-code", hit.code);
          button.appendChild(el("span", "tag", hit.matched));
          button.appendChild(document.createTextNode(hit.title));
          if (hit.subtitle) button.appendChild(el("span", "sub", hit.subtitle));
          button.addEventListener("click", function () {
            zoomTo(hit.bbox);
            if (hit.kind === "parcel") openParcel(hit.code);
          });
          item.appendChild(button);
          list.appendChild(item);
        });
      });
    });

    // --- the dossier --------------------------------------------------------------------------

    function openParcel(code) {
      N.api("GET", N.url(cfg.urls.feature, code)).then(function (result) {
        if (result.ok) showParcel(code, result.data);
        else showDossierError(N.errorMessage(result));
      });
    }

    function showDossierError(message) {
      dossierBox.hidden = false;
      dossierBox.textContent = "";
      dossierBox.appendChild(el("p", "muted", message));
    }

    function showParcel(code, feature) {
      current = { code: code, feature: feature };
      highlight.show(feature.geometry);
      container.setAttribute("data-selected", code);
      dossierBox.hidden = false;
      dossierBox.setAttribute("data-state", "loading");
      dossierBox.textContent = "";
      dossierBox.appendChild(el("p", "muted", "正在读取地块 " + code + " 的档案…"));
      Promise.all([N.api("GET", N.url(cfg.urls.dossier, code)), N.api("GET", N.url(cfg.urls.history, code))]).then(
        function (results) {
          if (!current || current.code !== code) return;
          if (!results[0].ok) {
            showDossierError(N.errorMessage(results[0]));
            return;
          }
          renderDossier(results[0].data, results[1].ok ? results[1].data : null);
          dossierBox.setAttribute("data-state", "loaded");
          dossierBox.setAttribute("data-dkbm", code);
        }
      );
    }

    function table(rows, className) {
      var t = el("table", className);
      rows.forEach(function (row) {
        if (!row) return;
        var tr = el("tr");
        tr.appendChild(el("th", null, row[0]));
        var td = el("td", row[2] || null, row[1] === null || row[1] === undefined || row[1] === "" ? "—" : row[1]);
        tr.appendChild(td);
        t.appendChild(tr);
      });
      return t;
    }

    function named(name, code) {
      if (!code) return "—";
      return name ? name + "（" + code + "）" : code;
    }

    function area(sqm, mu) {
      return N.formatNumber(sqm, 2) + " m²（" + N.formatNumber(mu, muDecimals) + " 亩）";
    }

    function link(label, href) {
      var a = el("a", null, label);
      a.href = href;
      return a;
    }

    function withParams(url, params) {
      var parts = Object.keys(params)
        .filter(function (k) {
          return params[k];
        })
        .map(function (k) {
          return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
        });
      return url + (parts.length ? (url.indexOf("?") >= 0 ? "&" : "?") + parts.join("&") : "");
    }

    function renderDossier(d, history) {
      dossierBox.textContent = "";
      var title = el("h2", null, d.dkmc + " ");
      var badge = el("span", "badge" + (d.status === "current" ? "" : " historic"), d.status === "current" ? "现势" : "历史");
      title.appendChild(badge);
      dossierBox.appendChild(title);

      var zoom = el("div", "actions");
      var zoomButton = el("button", null, "缩放到地块");
      zoomButton.type = "button";
      zoomButton.addEventListener("click", function () {
        var bounds = highlight.bounds();
        if (bounds) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 19 });
      });
      zoom.appendChild(zoomButton);
      dossierBox.appendChild(zoom);

      dossierBox.appendChild(el("h3", null, "地块信息"));
      dossierBox.appendChild(
        table([
          ["地块编码", d.dkbm, "dossier-dkbm"],
          ["地块名称", d.dkmc],
          ["地块类别", named(d.dklb_name, d.dklb)],
          ["土地利用类型", named(d.tdlylx_name, d.tdlylx)],
          ["地力等级", named(d.dldj_name, d.dldj)],
          ["土地用途", named(d.tdyt_name, d.tdyt)],
          ["是否基本农田", named(d.sfjbnt_name, d.sfjbnt)],
          ["所有权性质", named(d.syqxz_name, d.syqxz)],
          ["实测面积", area(d.scmj, d.scmjm), "dossier-area"],
          ["东至", d.dkdz],
          ["西至", d.dkxz],
          ["南至", d.dknz],
          ["北至", d.dkbz],
          ["指界人", d.zjrxm],
          ["备注", d.dkbzxx],
          ["版本", String(d.version)],
        ])
      );

      var contracts = d.contracts || [];
      dossierBox.appendChild(el("h3", null, "承包合同与承包方"));
      if (!contracts.length) dossierBox.appendChild(el("p", "muted", "该地块不在任何承包合同中。"));
      contracts.forEach(function (c) {
        var section = el("section", "contract");
        section.setAttribute("data-contract", c.code);
        var status = c.link_status === "current" ? "" : "（已不在合同中）";
        section.appendChild(
          table([
            ["承包合同", c.code + status, "dossier-contract"],
            ["承包方式", named(c.method_name, c.method)],
            ["承包期限", c.term_start + " 至 " + (c.term_end === "9999-01-01" ? "长久不变" : c.term_end)],
            ["签订时间", c.signed_on],
            ["本地块合同面积", area(c.contract_area, c.contract_area_mu)],
            ["合同总面积", area(c.total_area, c.total_area_mu) + "，共 " + c.parcel_count + " 块"],
          ])
        );
        var p = c.contractor;
        section.appendChild(el("h3", null, "承包方"));
        section.appendChild(
          table([
            ["承包方", p.name, "dossier-contractor"],
            ["承包方编码", p.code],
            ["承包方类型", named(p.kind_name, p.kind)],
            ["成员数", String(p.member_count)],
          ])
        );
        if (p.members && p.members.length) {
          var members = el("table", "grid members");
          var head = el("tr");
          ["姓名", "性别", "与户主关系", "共有人"].forEach(function (h) {
            head.appendChild(el("th", null, h));
          });
          members.appendChild(head);
          p.members.forEach(function (m) {
            var tr = el("tr");
            tr.appendChild(el("td", "member-name", m.name));
            tr.appendChild(el("td", null, m.sex_name || m.sex));
            tr.appendChild(el("td", null, m.relation_name || m.relation));
            tr.appendChild(el("td", null, m.is_co_owner === "1" ? "是" : m.is_co_owner === "2" ? "否" : "—"));
            members.appendChild(tr);
          });
          section.appendChild(el("h3", null, "家庭成员"));
          section.appendChild(members);
        }
        section.appendChild(el("h3", null, "登记簿与权证"));
        if (c.register) {
          section.appendChild(
            table([
              ["登记簿编码", c.register.code, "dossier-register"],
              ["登记时间", c.register.registered_on],
              ["权证状态", c.register.certificate_status_name, "dossier-certificate"],
              ["发证日期", c.register.certificate_issued_on],
            ])
          );
        } else {
          section.appendChild(el("p", "muted", "尚未登簿。"));
        }
        section.appendChild(el("h3", null, "流转"));
        if (c.transfers && c.transfers.length) {
          var transfers = el("ul", "transfers");
          c.transfers.forEach(function (t) {
            var text =
              t.code + "：" + (t.method_name || t.method) + "给 " + (t.transferee_name || "—") + "，" +
              t.start_date + " 至 " + t.end_date + "，" + N.formatNumber(t.area, 2) + " m²" +
              (t.includes_parcel ? "（含本地块）" : "");
            transfers.appendChild(el("li", null, text));
          });
          section.appendChild(transfers);
        } else {
          section.appendChild(el("p", "muted", "无流转记录。"));
        }
        var actions = el("div", "actions");
        var reg = cfg.registration || {};
        var params = { dkbm: d.dkbm, contractor: p.code, contract: c.code };
        actions.appendChild(link("一般变更登记（地块）", withParams(reg.changeParcels, params)));
        actions.appendChild(link("转让登记", withParams(reg.transfer, params)));
        actions.appendChild(link("互换登记", withParams(reg.exchange, params)));
        if (c.register && c.register.certificate_status !== "none") {
          actions.appendChild(link("权证补发", withParams(reg.reissue, params)));
          actions.appendChild(link("权证换发", withParams(reg.replace, params)));
        }
        actions.appendChild(link("该承包方的登记业务", withParams(reg.cases, { q: p.code })));
        section.appendChild(el("h3", null, "办理登记业务"));
        section.appendChild(actions);
        dossierBox.appendChild(section);
      });

      dossierBox.appendChild(el("h3", null, "变更历史"));
      if (!history) {
        dossierBox.appendChild(el("p", "muted", "无法读取变更历史。"));
        return;
      }
      var lineage = el("div", "lineage");
      function lineageLine(label, links) {
        if (!links.length) return;
        var p = el("p", null, label);
        links.forEach(function (l, i) {
          if (i) p.appendChild(document.createTextNode("、"));
          var b = el("button", "link-button", l.code);
          b.type = "button";
          b.addEventListener("click", function () {
            openParcel(l.code);
          });
          p.appendChild(b);
          p.appendChild(document.createTextNode("（" + l.operation_name + "）"));
        });
        lineage.appendChild(p);
      }
      lineageLine("来源地块：", history.parents);
      lineageLine("变更后地块：", history.children);
      dossierBox.appendChild(lineage);
      var ol = el("ol", "history");
      if (!history.entries.length) dossierBox.appendChild(el("p", "muted", "无变更记录（导入时的原始数据）。"));
      history.entries.forEach(function (h) {
        var when = h.at.replace("T", " ").slice(0, 19);
        var text = when + " " + h.actor + " " + h.action_name + "（版本 " + h.version + "）";
        if (h.changed.length) text += "：" + h.changed.join("、");
        if (h.reason) text += " — " + h.reason;
        ol.appendChild(el("li", null, text));
      });
      dossierBox.appendChild(ol);
    }
  }

  window.addEventListener("map:init", function (event) {
    if (event.detail && event.detail.id === MAP_ID) setup(event.detail.map);
  });
})();
