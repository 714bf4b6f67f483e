// Apply and supplement forms: how far an upload has got. Without JavaScript the form posts as usual and
// the answer is the same page; with it, a form holding chosen files is sent by XMLHttpRequest so that the
// browser can report the bytes sent, and the answer then replaces the page as an ordinary post would
// (a redirect is followed by opening its address).
"use strict";
(function () {
  if (!window.FormData || !window.XMLHttpRequest) {
    return;
  }
  var forms = document.querySelectorAll("form[data-upload-progress]");
  Array.prototype.forEach.call(forms, function (form) {
    var box = form.querySelector(".upload-progress");
    var bar = box && box.querySelector("progress");
    var text = box && box.querySelector(".upload-progress-text");
    if (!box || !bar || !text) {
      return;
    }
    var pressed = null;
    form.addEventListener("click", function (event) {
      var target = event.target;
      if (target && target.type === "submit") {
        pressed = target;
      }
    });
    form.addEventListener("submit", function (event) {
      var files = form.querySelectorAll("input[type=file]");
      var chosen = Array.prototype.some.call(files, function (input) {
        return input.files && input.files.length > 0;
      });
      if (!chosen) {
        return; // nothing to wait for: the ordinary post
      }
      event.preventDefault();
      // The attribute, not form.action: a control named "action" (the apply form's buttons) shadows it.
      var target = new URL(form.getAttribute("action") || "", document.baseURI).href;
      var data = new FormData(form);
      if (pressed && pressed.name) {
        data.append(pressed.name, pressed.value);
      }
      var buttons = form.querySelectorAll("button");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      box.hidden = false;
      bar.value = 0;
      text.textContent = "正在上传：0%";
      var request = new XMLHttpRequest();
      request.open("POST", target);
      request.upload.onprogress = function (e) {
        if (e.lengthComputable && e.total > 0) {
          bar.max = e.total;
          bar.value = e.loaded;
          text.textContent = "正在上传：" + Math.floor((e.loaded * 100) / e.total) + "%";
        }
      };
      request.upload.onload = function () {
        bar.value = bar.max;
        text.textContent = "上传完成，正在处理，请稍候……";
      };
      request.onload = function () {
        var redirected = request.responseURL && request.responseURL.split("#")[0] !== target.split("#")[0];
        if (redirected) {
          window.location.assign(request.responseURL);
          return;
        }
        document.open();
        document.write(request.responseText);
        document.close();
      };
      request.onerror = function () {
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        text.textContent = "上传没有成功，请检查网络后再提交一次（已填写的内容仍在页面上）。";
      };
      request.send(data);
    });
  });
})();
