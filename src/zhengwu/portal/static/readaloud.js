// 适老化 mode: reads the page's main content aloud with the browser's speech synthesis. The button is
// in the page but hidden; it is shown only when this script runs and the browser can speak, so without
// JavaScript or speech nothing changes.
"use strict";
(function () {
  var button = document.getElementById("read-aloud");
  var main = document.getElementById("main");
  if (!button || !main || !("speechSynthesis" in window) || typeof SpeechSynthesisUtterance !== "function") {
    return;
  }
  var idle = button.textContent;
  var reading = false;
  function done() {
    reading = false;
    button.textContent = idle;
    button.setAttribute("aria-pressed", "false");
  }
  button.addEventListener("click", function () {
    if (reading) {
      window.speechSynthesis.cancel();
      done();
      return;
    }
    var utterance = new SpeechSynthesisUtterance(main.innerText);
    utterance.lang = "zh-CN";
    utterance.rate = 0.9; // a little slower than usual: the mode is for older readers
    utterance.onend = done;
    utterance.onerror = done;
    window.speechSynthesis.cancel(); // nothing queued from an earlier page
    window.speechSynthesis.speak(utterance);
    reading = true;
    button.textContent = "停止朗读";
    button.setAttribute("aria-pressed", "true");
  });
  button.hidden = false;
})();
