// 数字证书登录: fetch a challenge, have the local UKey agent (证书助手) sign it, post the answer.
// The page works without this script only in that it explains what is needed; the signature itself
// can only come from the agent, which holds the key in the UKey.
(function () {
  "use strict";
  var form = document.getElementById("certificate-form");
  var button = document.getElementById("certificate-start");
  var status = document.getElementById("certificate-status");
  if (!form || !button || !status) { return; }

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "field-error" : "hint";
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: url.charAt(0) === "/" ? "same-origin" : "omit",
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw { data: data, status: response.status }; }
        return data;
      });
    });
  }

  function toBase64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary);
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    say("正在获取登录挑战码…", false);
    postJson("/api/v1/identity/certificate/challenge", {})
      .then(function (challenge) {
        say("请在证书助手中选择证书并输入 PIN 码…", false);
        return postJson(form.dataset.agent, {
          message: toBase64(challenge.message),
          purpose: "login",
          origin: window.location.origin,
        }).then(function (answer) {
          return { challenge: challenge, answer: answer };
        }, function (failure) {
          throw { agent: true, failure: failure };
        });
      })
      .then(function (both) {
        form.elements.challenge.value = both.challenge.challenge;
        form.elements.certificate.value = both.answer.certificate;
        form.elements.chain.value = (both.answer.chain || []).join(",");
        form.elements.signature.value = both.answer.signature;
        say("正在验证证书…", false);
        form.submit();
      })
      .catch(function (error) {
        button.disabled = false;
        if (error && error.agent) {
          say("未能连接证书助手，或签名被取消。请确认已插入 UKey 并启动证书助手后重试。", true);
        } else if (error && error.data && error.data.detail) {
          say(error.data.detail, true);
        } else {
          say("网络异常，请稍后重试。", true);
        }
      });
  });
})();
