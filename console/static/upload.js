// Resumable recording upload: announce the file (with its product list), send 4 MiB chunks each with the offset
// it starts at, and on any break ask the server how much it has and go on from there. The upload's id is kept in
// localStorage under the file's name, size and date, so choosing the same file again after a reload resumes it.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var CHUNK = Number(form.dataset.chunk) || 4 * 1024 * 1024;
  var project = form.dataset.project, csrf = form.dataset.csrf, max = Number(form.dataset.max);
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var errors = document.getElementById("upload-errors");

  function say(text) { status.textContent = text; }
  function showErrors(lines) {
    errors.innerHTML = "";
    lines.forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      li.setAttribute("data-testid", "upload-error");
      errors.appendChild(li);
    });
    errors.hidden = lines.length === 0;
  }
  function key(file) { return "mcn-upload:" + project + ":" + file.name + ":" + file.size + ":" + file.lastModified; }

  async function json(response) {
    var body = {};
    try { body = await response.json(); } catch (e) { body = {error: response.status + " " + response.statusText}; }
    body.httpStatus = response.status;
    return body;
  }

  async function announce(file, products) {
    var data = new FormData();
    data.append("csrf_token", csrf);
    data.append("filename", file.name);
    data.append("size", String(file.size));
    if (products) { data.append("products", products, products.name); }
    return json(await fetch("/projects/" + project + "/uploads", {method: "POST", body: data, credentials: "same-origin"}));
  }

  async function received(id) {
    var body = await json(await fetch("/uploads/" + id, {credentials: "same-origin"}));
    return body.httpStatus === 200 ? body : null;
  }

  async function send(id, file, offset) {
    var tries = 0;
    while (offset < file.size) {
      var end = Math.min(offset + CHUNK, file.size);
      var body;
      try {
        body = await json(await fetch("/uploads/" + id + "?offset=" + offset, {
          method: "PUT", body: file.slice(offset, end), credentials: "same-origin",
          headers: {"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"}}));
      } catch (e) {
        body = {httpStatus: 0, error: String(e)};
      }
      if (body.httpStatus === 200) {
        offset = body.received; tries = 0;
      } else if (body.httpStatus === 409 && typeof body.received === "number") {
        offset = body.received;  // the server has a different amount: go on from there
      } else if (body.httpStatus === 0 && tries < 5) {
        tries += 1;  // the connection broke: wait, ask where we are, resume
        await new Promise(function (r) { setTimeout(r, 1000 * tries); });
        var state = await received(id).catch(function () { return null; });
        if (state) { offset = state.received; }
      } else {
        throw new Error(body.error || ("upload failed (" + body.httpStatus + ")"));
      }
      bar.value = offset / file.size;
      say("uploaded " + Math.round(100 * offset / file.size) + "%");
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    showErrors([]);
    var file = document.getElementById("recording").files[0];
    var products = document.getElementById("products").files[0] || null;
    if (!file) { showErrors(["choose a recording"]); return; }
    if (file.size > max) { showErrors([file.name + ": " + file.size + " bytes is over the limit of " + max + " bytes"]); return; }
    var button = form.querySelector("button");
    button.disabled = true;
    bar.hidden = false;
    try {
      var id = localStorage.getItem(key(file)), offset = 0;
      var state = id ? await received(id) : null;
      if (state && state.status === "receiving") {
        offset = state.received;
        say("resuming at " + Math.round(100 * offset / file.size) + "%");
      } else {
        var started = await announce(file, products);
        if (started.httpStatus !== 200) { showErrors(started.lines || [started.error]); return; }
        id = started.id;
        localStorage.setItem(key(file), id);
      }
      await send(id, file, offset);
      say("checking the recording ...");
      var done = await json(await fetch("/uploads/" + id + "/finish", {
        method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf}}));
      localStorage.removeItem(key(file));
      if (done.httpStatus !== 200) { showErrors([done.error]); window.setTimeout(function () { location.reload(); }, 1500); return; }
      say("submitted: making clips");
      location.reload();
    } catch (e) {
      showErrors([String(e.message || e)]);
    } finally {
      button.disabled = false;
    }
  });
})();
