/**
 * The admin area's only script, served from here (no asset comes from the
 * internet). Every page works without it; it adds copy buttons and the
 * live progress of background jobs.
 */
export const ADMIN_SCRIPT = `'use strict';
document.addEventListener('click', function (event) {
  var target = event.target;
  if (!(target instanceof HTMLElement)) return;
  var id = target.getAttribute('data-copy');
  if (!id) return;
  var field = document.getElementById(id);
  if (!field) return;
  var value = 'value' in field ? field.value : field.textContent;
  var done = function () {
    target.textContent = 'Copied';
    setTimeout(function () { target.textContent = 'Copy'; }, 2000);
  };
  var fallback = function () {
    field.select();
    document.execCommand('copy');
    done();
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(value).then(done, fallback);
  else fallback();
});
// The tag suggestions follow the chosen connection.
document.addEventListener('change', function (event) {
  var select = event.target;
  if (!(select instanceof HTMLSelectElement) || !select.dataset.tagInput) return;
  var input = document.getElementById(select.dataset.tagInput);
  var option = select.selectedOptions[0];
  if (input && option && option.dataset.tagList) input.setAttribute('list', option.dataset.tagList);
});
// Live progress of background jobs: each [data-progress-url] block is polled until its job ends.
(function () {
  var blocks = document.querySelectorAll('[data-progress-url]');
  if (blocks.length === 0) return;
  var draw = function (block, figures) {
    var bar = block.querySelector('progress');
    if (bar) { bar.value = figures.percent; bar.textContent = figures.percent + '%'; }
    var set = function (field, text) {
      var node = block.querySelector('[data-field="' + field + '"]');
      if (node) node.textContent = text;
    };
    set('figures', figures.figures);
    set('errors', String(figures.errors));
    var badge = block.querySelector('[data-field="status"] .status');
    if (badge) { badge.textContent = figures.status; badge.className = 'status s-' + figures.status; }
    if (figures.ended) {
      block.setAttribute('data-ended', 'true');
      if (block.getAttribute('data-reload-when-ended') === 'true') window.location.reload();
    }
  };
  var poll = function () {
    var open = Array.prototype.filter.call(blocks, function (block) {
      return block.getAttribute('data-ended') !== 'true';
    });
    if (open.length === 0) return;
    Promise.all(open.map(function (block) {
      return fetch(block.getAttribute('data-progress-url'), {
        headers: { accept: 'application/json' },
        credentials: 'same-origin'
      }).then(function (response) {
        if (!response.ok) throw new Error('progress ' + response.status);
        return response.json();
      }).then(function (figures) { draw(block, figures); });
    })).then(function () { setTimeout(poll, 1000); }, function () { /* signed out or gone: a reload shows why */ });
  };
  setTimeout(poll, 1000);
})();
`;
