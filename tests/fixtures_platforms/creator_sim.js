// Behaviour of the fixture creator pages (douyin/, kuaishou/, xiaohongshu/). The pages carry the platforms'
// markup (what the selector files target); this script wires it through data-sim hooks that the adapters never
// use. The fixture server (tests/test_adapter_creator_sites.py) answers /_sim/<platform>/... and sets
// window.SIM = {platform, scenario} in /_sim/<platform>/scenario.js.
(function () {
  "use strict";
  const sim = window.SIM || { platform: "unknown", scenario: "ok" };
  const api = (path) => "/_sim/" + sim.platform + "/" + path;
  const $ = (name) => document.querySelector('[data-sim="' + name + '"]');
  const show = (el) => { if (el) el.hidden = false; };
  const hide = (el) => { if (el) el.hidden = true; };
  let uploadId = null;

  function onClick(name, handler) {
    const el = $(name);
    if (el) el.addEventListener("click", handler);
  }

  // a captcha / security check covering the page
  if (sim.scenario === "captcha") show($("captcha"));

  // the platform changed its declaration panel: the AI option is gone
  if (sim.scenario === "no_ai") {
    const option = $("decl-ai");
    if (option) option.remove();
  }

  // login page: the operator "scans the QR code" (auto_login plays the phone after a short pause)
  function login() {
    fetch(api("login"), { method: "POST" }).then((r) => r.json()).then((answer) => { location.href = answer.next; });
  }
  onClick("login-sim", login);
  if ($("login-sim") && sim.scenario === "auto_login") setTimeout(login, 400);

  // choosing the file: the form opens (Douyin moves to content/publish like its SPA) and the upload starts
  const file = $("file");
  if (file) {
    file.addEventListener("change", () => {
      const form = $("form-step");
      if (form && form.dataset.formPath) history.pushState({}, "", form.dataset.formPath);
      if (form && form.dataset.replaceUpload !== undefined) hide($("upload-step"));
      show(form);
      show($("guide"));
      upload(file.files[0]);
    });
  }

  function upload(chosen) {
    const progress = $("progress");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", api("upload"));
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && progress) {
        progress.textContent = "上传中 " + Math.round((100 * event.loaded) / event.total) + "%";
      }
    };
    xhr.onload = () => {
      if (xhr.status !== 200) {
        if (progress) progress.textContent = progress.dataset.failText || "上传失败";
        return;
      }
      uploadId = JSON.parse(xhr.responseText).upload_id;
      // the platform transcodes for a moment before it offers 重新上传
      setTimeout(() => {
        if (progress) progress.textContent = progress.dataset.doneText || "";
        show($("reupload"));
      }, 300);
    };
    xhr.onerror = () => { if (progress) progress.textContent = progress.dataset.failText || "上传失败"; };
    xhr.send(chosen);
  }

  onClick("guide-close", () => hide($("guide")));

  // AI / content declaration panel
  onClick("declare-open", () => show($("declare-dialog")));
  onClick("declare-ok", () => {
    const chosen = document.querySelector('[data-sim="declare-dialog"] input:checked');
    hide($("declare-dialog"));
    const value = $("declare-value");
    if (value && chosen) value.textContent = chosen.parentElement.textContent.trim();
  });

  // product link (挂车): Douyin's tag select -> 购物车, or a direct "add product" entry
  onClick("tag-select", () => { const list = $("tag-list"); list.hidden = !list.hidden; });
  onClick("opt-cart", () => { hide($("tag-list")); show($("cart")); });
  onClick("product-open", () => show($("cart")));
  const link = $("link");
  if (link) {
    link.addEventListener("input", () => {
      const add = $("add-link");
      if (add) add.classList.toggle("disable", link.value.trim() === "");
    });
  }
  let product = null;
  onClick("add-link", (event) => {
    if (event.currentTarget.classList.contains("disable")) return;
    const value = link.value.trim();
    fetch(api("product?link=" + encodeURIComponent(value))).then((r) => r.json()).then((answer) => {
      if (!answer.found) { show($("not-found")); return; }
      product = { link: value, short_title: null };
      if ($("product-dialog")) show($("product-dialog"));
      else showChip();
    });
  });
  onClick("not-found-ok", () => hide($("not-found")));
  onClick("product-done", () => {
    product.short_title = $("short-title").value;
    hide($("product-dialog"));
    showChip();
  });
  function showChip() {
    const chip = $("product-chip");
    if (chip) { chip.textContent = "已添加商品 " + product.link; show(chip); }
  }

  // scheduled publish: the time field shows once 定时发布 is chosen
  document.querySelectorAll('input[name="pt"]').forEach((radio) => {
    radio.addEventListener("change", () => {
      const timer = document.querySelector('input[name="pt"][value="timer"]');
      if (timer && timer.checked) show($("timer-box")); else hide($("timer-box"));
    });
  });

  // publish (with an optional confirmation step)
  onClick("publish", () => { if ($("confirm")) show($("confirm")); else submit(); });
  onClick("publish-scheduled", () => submit());
  onClick("confirm-ok", () => { hide($("confirm")); submit(); });

  function submit() {
    const title = $("title");
    const timer = document.querySelector('input[name="pt"][value="timer"]');
    const declared = document.querySelector('[data-sim="declare-dialog"] input:checked');
    const payload = {
      upload_id: uploadId,
      title: title ? title.value : null,
      description: $("editor").innerText,
      declaration: declared ? declared.value : null,
      product: product,
      schedule: timer && timer.checked ? $("timer-input").value : null,
    };
    fetch(api("publish"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    }).then((r) => r.json()).then((answer) => {
      if (answer.error_text) {
        const toast = $("toast");
        toast.textContent = answer.error_text;
        show(toast);
        return;
      }
      if (answer.hang) return; // the answer never comes back to the page
      location.href = answer.next;
    });
  }

  // manage page: list the account's posts from the server, newest first
  const list = $("list");
  if (list) {
    fetch(api("posts")).then((r) => r.json()).then((posts) => {
      const template = $("item");
      if (posts.length === 0) { show($("empty")); return; }
      for (const post of posts) {
        const item = template.content.firstElementChild.cloneNode(true);
        item.querySelectorAll("[data-fill-text]").forEach((el) => { el.textContent = post.description; });
        item.querySelectorAll("[data-fill-href]").forEach((el) => {
          el.setAttribute("href", el.dataset.fillHref.replace("{id}", post.id));
        });
        list.appendChild(item);
      }
    });
  }
})();
