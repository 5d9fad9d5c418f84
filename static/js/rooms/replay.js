// The replay of a recorded show on the room page: the HLS VOD playlist through hls.js (or the
// browser's own HLS), and the line-up chapters seeking to where each product was pinned.
(function () {
  "use strict";
  const video = document.querySelector("video[data-replay-src]");
  if (!video) return;
  const src = video.dataset.replaySrc;
  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls();
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
  }
  document.querySelectorAll("[data-seek]").forEach(function (button) {
    button.addEventListener("click", function () {
      video.currentTime = parseFloat(button.dataset.seek) || 0;
      video.play().catch(function () {});
      video.scrollIntoView({ behavior: "smooth", block: "center" });
    });
  });
})();
