// The case page's "可办理操作" panel: the actions the signed-in account may take now, from
// GET /api/v1/cases/{id}/transitions (web/api/transitions.py); each a button opening a small
// form for what the action needs; sent with If-Match (the version the page read) and the
// session's CSRF token. After success the page reloads the case; a stale version says so and
// reloads. Every text from the server or the user goes in with textContent, never as HTML.
(function () {
  'use strict';
  var panel = document.getElementById('case-actions');
  var configNode = document.getElementById('case-actions-config');
  if (!panel || !configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var W = config.words;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute('content') : null;
  var statusLine = panel.querySelector('.actions-status');
  var buttons = panel.querySelector('.action-buttons');
  var slot = panel.querySelector('.action-form-slot');
  var message = panel.querySelector('.action-message');
  var versionNode = panel.querySelector('.case-version');
  var version = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function say(text, kind) {
    message.textContent = text || '';
    message.className = 'action-message' + (kind ? ' ' + kind : '');
  }

  function actionName(a) {
    return (document.documentElement.lang === 'en' && config.actionNames[a.action]) || a.name_zh;
  }

  function field(labelText, input, required) {
    var label = el('label', {'class': 'action-field'});
    var caption = el('span', {'class': 'caption'}, labelText);
    if (required) {
      caption.appendChild(el('span', {'class': 'required', 'title': W.required}, ' *'));
      input.required = true;
    }
    label.appendChild(caption);
    label.appendChild(input);
    return label;
  }

  function select(name, options, placeholder) {
    var s = el('select', {name: name});
    s.appendChild(el('option', {value: ''}, placeholder || W.choose));
    options.forEach(function (o) {
      if (o.group) {
        var g = el('optgroup', {label: o.group});
        o.items.forEach(function (i) { g.appendChild(el('option', {value: i.value}, i.label)); });
        s.appendChild(g);
      } else {
        s.appendChild(el('option', {value: o.value}, o.label));
      }
    });
    return s;
  }

  // The input for the action's `to` (cases/workflow.py Action.to), and how to read it back.
  function targetInput(kind) {
    if (kind === 'assignee') {
      var groups = [{group: W.people_group, items: config.people.map(function (p) {
        return {value: 'person:' + p.id, label: p.name + ' · ' + (p.title || p.post)};
      })}];
      if (config.departments.length) {
        groups.push({group: W.department, items: config.departments.map(function (d) {
          return {value: 'department:' + d.code, label: d.name};
        })});
      }
      return {label: W.person + ' / ' + W.department, input: select('to', groups),
              read: function (v) {
        var i = v.indexOf(':');
        return v.slice(0, i) === 'person' ? {person_id: Number(v.slice(i + 1))}
          : {department: v.slice(i + 1)};
      }};
    }
    if (kind === 'void_reason') {
      return {label: W.void_reason, input: select('to', config.voidReasons.map(function (r) {
        return {value: r, label: W.void_reasons[r] || r};
      })), read: function (v) { return v; }};
    }
    if (kind === 'rating') {
      return {label: W.rating, input: select('to', config.ratings.map(function (r) {
        return {value: r.value, label: r.name};
      })), read: function (v) { return v; }};
    }
    if (kind === 'resume_date') {
      return {label: W.resume_date, input: el('input', {type: 'date', name: 'to'}),
              read: function (v) { return v; }};
    }
    if (kind === 'extension_days') {
      return {label: W.extension_days, input: el('input', {type: 'number', name: 'to', min: '1',
              max: String(config.maxExtensionDays), step: '1'}),
              read: function (v) { return Number(v); }};
    }
    if (kind === 'original_case') {
      return {label: W.original_case, input: el('input', {type: 'number', name: 'to', min: '1',
              step: '1'}), read: function (v) { return Number(v); }};
    }
    return null;
  }

  function errorText(body, status) {
    var code = body && body.error;
    return (code && W.errors[code]) || W.failed + ' (' + (code || status) + ')';
  }

  function send(action, payload, form) {
    var submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    say(W.sending);
    var headers = {'Content-Type': 'application/json', 'If-Match': '"' + version + '"'};
    if (CSRF) { headers['X-CSRF-Token'] = CSRF; }
    fetch(config.api, {method: 'POST', credentials: 'same-origin', headers: headers,
                       body: JSON.stringify(payload)})
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          if (resp.ok) {
            say(W.done, 'ok');
            window.location.reload();
          } else if (resp.status === 409 && body.error === 'stale_version') {
            say(W.stale, 'error');
            window.setTimeout(function () { window.location.reload(); }, 1200);
          } else {
            submit.disabled = false;
            say(errorText(body, resp.status), 'error');
            message.title = body.message || '';
          }
        });
      })
      .catch(function () { submit.disabled = false; say(W.failed, 'error'); });
  }

  function open(a) {
    slot.textContent = '';
    say('');
    var form = el('form', {'class': 'action-form', 'data-action': a.action, novalidate: ''});
    form.appendChild(el('h3', {}, actionName(a)));
    var target = a.to ? targetInput(a.to) : null;
    if (target) { form.appendChild(field(target.label, target.input, true)); }
    var note = el('textarea', {name: 'note', rows: '3', maxlength: String(config.maxNote)});
    form.appendChild(field(a.needs_reason ? W.reason : W.note, note, a.needs_reason));
    var row = el('div', {'class': 'action-form-buttons'});
    row.appendChild(el('button', {type: 'submit', 'class': 'primary'}, W.submit));
    var cancel = el('button', {type: 'button'}, W.cancel);
    cancel.addEventListener('click', function () { slot.textContent = ''; say(''); });
    row.appendChild(cancel);
    form.appendChild(row);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var payload = {action: a.action};
      if (target) {
        if (!target.input.value) { say(W.required + '：' + target.label, 'error'); return; }
        payload.to = target.read(target.input.value);
      }
      var text = note.value.trim();
      if (a.needs_reason && !text) { say(W.errors.reason_required, 'error'); return; }
      if (text) { payload.note = text; }
      send(a.action, payload, form);
    });
    slot.appendChild(form);
    (target ? target.input : note).focus();
  }

  function render(data) {
    version = data.version;
    versionNode.textContent = 'v' + data.version;
    buttons.textContent = '';
    if (!data.actions.length) {
      statusLine.textContent = W.no_actions;
      return;
    }
    statusLine.textContent = config.statusNames[data.status] || data.status;
    data.actions.forEach(function (a) {
      var b = el('button', {type: 'button', 'class': 'action-button', 'data-action': a.action},
                 actionName(a));
      if (a.needs_reason) { b.title = W.reason + ' · ' + W.required; }
      b.addEventListener('click', function () { open(a); });
      buttons.appendChild(b);
    });
  }

  fetch(config.api, {credentials: 'same-origin', cache: 'no-store'})
    .then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) { throw body; }
        render(body);
      });
    })
    .catch(function (body) {
      statusLine.textContent = body && body.error === 'forbidden' ? W.no_actions
        : W.load_error + (body && body.error ? '：' + errorText(body) : '');
    });
})();

// The rating link made a moment ago (templates/_rating_link.html): selected on focus, and
// copied by its button (the page's scripts live in files: the Content-Security-Policy runs
// no inline handler).
(function () {
  'use strict';
  var input = document.querySelector('.rating-link-url');
  var button = document.querySelector('.rating-link-copy');
  if (!input) { return; }
  input.addEventListener('focus', function () { input.select(); });
  if (!button) { return; }
  button.addEventListener('click', function () {
    input.select();
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value); }
    button.textContent = button.dataset.copied;
  });
}());
