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
`;
