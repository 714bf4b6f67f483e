// The share view: the token is in the fragment (never sent to a server by the browser); it goes to the
// node in the body of POST /api/v1/licenses/shares/redeem. Everything shown is set as text, never HTML.
"use strict";
(function () {
  var out = document.getElementById("result");
  function line(label, value) {
    var row = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = label + "：";
    row.appendChild(strong);
    row.appendChild(document.createTextNode(value == null || value === "" ? "—" : String(value)));
    out.appendChild(row);
  }
  function beijing(iso) {
    return iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "长期";
  }
  var token = decodeURIComponent((window.location.hash || "").replace(/^#/, ""));
  if (!token) {
    out.textContent = "链接中没有共享令牌，请向持证人索取完整的共享链接或二维码。";
    return;
  }
  fetch("/api/v1/licenses/shares/redeem", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: token, purpose: "扫码查看共享" }),
  })
    .then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    })
    .then(function (answer) {
      out.textContent = "";
      var body = answer.body;
      if (!answer.ok) {
        line("无法查看", body.detail);
        return;
      }
      line("核验结论", body.valid ? "有效" : "无效");
      line("证照状态", body.status_label);
      line("证照类型", body.type_name);
      line("颁发机构", body.issuer_name);
      line("共享事由", body.share.purpose);
      line("共享有效期至（北京时间）", beijing(body.share.expires_at));
      if (body.license) {
        line("持证主体", body.license.holder_name);
        line("证照编号", body.license.number);
        Object.keys(body.license.face).forEach(function (key) { line(key, body.license.face[key]); });
        line("有效期至", body.license.valid_until || "长期");
      } else {
        line("照面信息", "持证人未授权查看");
      }
    })
    .catch(function () {
      out.textContent = "暂时无法连接，请稍后再试。";
    });
})();
