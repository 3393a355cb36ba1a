// The offer screen: the expiry counting down, and the offer's state as the phone takes
// it, without a reload. Nothing else on the console needs a script.
"use strict";
(function () {
  const offer = document.getElementById("offer");
  if (!offer) return;
  const state = document.getElementById("state");
  const countdown = document.getElementById("countdown");
  let left = parseInt(offer.dataset.expiresIn, 10) || 0;
  const words = {
    waiting: "รอโทรศัพท์ / Waiting for the phone",
    received: "โทรศัพท์ได้รับข้อเสนอแล้ว / Received by the phone",
    issued: "ออกบัตรแล้ว / Card issued to the phone",
    expired: "หมดอายุ / Expired: make a new offer",
    closed: "ปิดแล้ว / Closed: make a new offer",
  };
  let done = false;
  const show = (s) => {
    state.textContent = words[s] || s;
    state.dataset.state = s;
    state.className = "state" + (s === "issued" ? " done" : (s === "expired" || s === "closed") ? " over" : "");
    if (s === "issued" || s === "expired" || s === "closed") done = true;
  };
  setInterval(() => {
    if (done) return;
    left = Math.max(0, left - 1);
    countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
  }, 1000);
  const poll = () => {
    if (done) return;
    fetch(offer.dataset.status, { credentials: "same-origin", cache: "no-store" })
      .then((r) => (r.ok ? r.json() : null))
      .then((j) => { if (j) { show(j.state); left = j.expires_in; } })
      .catch(() => {})
      .finally(() => { if (!done) setTimeout(poll, 1000); });
  };
  setTimeout(poll, 1000);
})();
