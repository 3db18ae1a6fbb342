// The console's entry: login with the admin key, the navigation, and one page at a time.

import { ApiError, UNAUTHORIZED, admin, session } from "./api.js";
import { clear, h } from "./dom.js";
import * as dashboard from "./pages/dashboard.js";
import * as keys from "./pages/keys.js";
import * as models from "./pages/models.js";
import * as playground from "./pages/playground.js";
import * as usage from "./pages/usage.js";

const PAGES = {
  dashboard: { title: "Dashboard", page: dashboard },
  usage: { title: "Usage", page: usage },
  keys: { title: "Keys", page: keys },
  models: { title: "Models", page: models },
  playground: { title: "Playground", page: playground },
};

/** What pages share while the console is open: the catalog, the playground's key and chat, and the
 * cleanups of the page on screen (a stream in flight is stopped when its page is left). */
function createContext() {
  const leaving = [];
  return {
    playground: { key: "", model: "", history: [] },
    catalog: null,
    async models() {
      if (!this.catalog) this.catalog = (await admin("/models")).data;
      return this.catalog;
    },
    onLeave(cleanup) {
      leaving.push(cleanup);
    },
    leave() {
      while (leaving.length) leaving.pop()();
    },
  };
}

function pageName() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return name in PAGES ? name : "dashboard";
}

function main() {
  const login = document.getElementById("login");
  const shell = document.getElementById("shell");
  const content = document.getElementById("main");
  const form = document.getElementById("login-form");
  const keyInput = document.getElementById("admin-key");
  const loginError = document.getElementById("login-error");
  const loginButton = form.querySelector("button[type=submit]");
  let context = createContext();

  const route = (focus = true) => {
    if (!session.key) return;
    context.leave();
    const name = pageName();
    const { title, page } = PAGES[name];
    document.title = `${title} · ToRouter console`;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.page === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const heading = h("h1", { tabindex: -1 }, title);
    const section = h("section", { class: `page page-${name}`, "aria-labelledby": "page-title" });
    heading.id = "page-title";
    clear(content, heading, section);
    if (focus) heading.focus();
    page.render(section, context).catch((error) => {
      section.append(h("p", { class: "notice error", role: "alert" }, error.message || String(error)));
    });
  };

  const showLogin = (message = "") => {
    context.leave();
    shell.hidden = true;
    login.hidden = false;
    clear(content);
    loginError.textContent = message;
    keyInput.value = "";
    keyInput.focus();
  };

  const showShell = () => {
    login.hidden = true;
    shell.hidden = false;
    route(false);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    loginError.textContent = "";
    if (!key) {
      loginError.textContent = "Enter the admin key.";
      return;
    }
    loginButton.disabled = true;
    try {
      await admin("/models", { key });
      session.key = key;
      context = createContext();
      showShell();
    } catch (error) {
      loginError.textContent =
        error instanceof ApiError && error.status === 401
          ? "That key is not an admin key of this gateway."
          : `Cannot log in: ${error.message}`;
      keyInput.select();
    } finally {
      loginButton.disabled = false;
    }
  });

  document.getElementById("logout").addEventListener("click", () => {
    session.key = null;
    showLogin("You are logged out.");
  });

  window.addEventListener(UNAUTHORIZED, () => {
    session.key = null;
    showLogin("The admin key is no longer accepted: log in again.");
  });
  window.addEventListener("hashchange", () => route());

  if (session.key) showShell();
  else showLogin();
}

main();
