// Warns a signed-in person before the server ends their idle session, and lets them stay signed in.
//
// GOV.UK has no released timeout-warning component; this follows the design system's prototype pattern: a modal
// dialog with a heading, the time left, a "Stay signed in" button and a "Sign out" link. It enhances only: without
// JavaScript the server still ends the idle session and the next page asks the person to sign in again.
//
// The page opts in with one element, for example
//   <div data-module="timeout-warning" data-idle-seconds="1800" data-warning-seconds="120" hidden></div>
// and normally also data-csrf-token (the page's CSRF token, sent as the form field data-csrf-field, default
// csrf_token). data-keep-alive-url (POSTed, or fetched with data-keep-alive-method="GET") and data-sign-out-url
// (the sign-out form's POST target) default to /portal/keep-alive and /portal/sign-out. The dialog itself is built
// here, so the page needs no markup for it.

const DEFAULTS = Object.freeze({
  idleSeconds: 30 * 60,
  warningSeconds: 2 * 60,
  keepAliveUrl: '/portal/keep-alive',
  keepAliveMethod: 'POST',
  csrfField: 'csrf_token',
  signOutUrl: '/portal/sign-out'
})

// Screen readers hear the time left only at these steps; announcing every second would drown everything else.
const SPOKEN_STEP_SECONDS = 20

// Every tab of the portal shares one server session, so activity in one tab keeps the others from warning.
const CHANNEL_NAME = 'portal-session'

let instances = 0

function boundedSeconds (value, fallback, min, max) {
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value)) return fallback
  const seconds = Number(value)
  return seconds >= min && seconds <= max ? seconds : fallback
}

// Only paths on this site: the attributes come from our own templates, but a wrong one must not send anyone away.
function sitePath (value, fallback) {
  return typeof value === 'string' && /^\/(?![/\\])[^\s]*$/.test(value) && value.length <= 200 ? value : fallback
}

function duration (seconds) {
  if (seconds >= 60) {
    const minutes = Math.ceil(seconds / 60)
    return minutes === 1 ? '1 minute' : `${minutes} minutes`
  }
  return seconds === 1 ? '1 second' : `${seconds} seconds`
}

// The same key means nothing new to say: whole minutes above one minute, then steps of SPOKEN_STEP_SECONDS.
function spokenStep (seconds) {
  return seconds >= 60 ? `m${Math.ceil(seconds / 60)}` : `s${Math.ceil(seconds / SPOKEN_STEP_SECONDS)}`
}

function element (tag, attributes = {}, children = []) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  node.append(...children)
  return node
}

export class TimeoutWarning {
  constructor (root) {
    const data = root.dataset
    const idleSeconds = boundedSeconds(data.idleSeconds, DEFAULTS.idleSeconds, 60, 24 * 60 * 60)
    this.idleMs = idleSeconds * 1000
    this.warningMs =
      boundedSeconds(data.warningSeconds, Math.min(DEFAULTS.warningSeconds, idleSeconds / 2), 10, idleSeconds - 10) *
      1000
    this.keepAliveUrl = sitePath(data.keepAliveUrl, DEFAULTS.keepAliveUrl)
    this.keepAliveMethod = data.keepAliveMethod === 'GET' ? 'GET' : DEFAULTS.keepAliveMethod
    this.csrfToken = data.csrfToken || null
    this.csrfField = /^[A-Za-z0-9_-]{1,64}$/.test(data.csrfField || '') ? data.csrfField : DEFAULTS.csrfField
    this.signOutUrl = sitePath(data.signOutUrl, DEFAULTS.signOutUrl)

    // The server counts idle time from its last request, which began no later than this page's navigation.
    const origin = Date.now() - Math.max(0, performance.now())
    this.deadline = origin + this.idleMs
    this.timer = null
    this.spoken = null
    this.returnFocusTo = null
    this.closingOurselves = false
    this.sending = false
    this.expired = false

    this.build(++instances)
    document.body.append(this.dialog)

    this.channel = 'BroadcastChannel' in window ? new BroadcastChannel(CHANNEL_NAME) : null
    if (this.channel) {
      this.channel.addEventListener('message', (event) => this.heard(event.data))
      this.announceActivity(origin)
    }
    // Timers are throttled in background tabs, so look again whenever the tab comes back.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.check()
    })
    this.check()
  }

  build (n) {
    const headingId = `portal-timeout-warning-heading-${n}`
    const descriptionId = `portal-timeout-warning-description-${n}`

    this.visibleTime = element('strong')
    this.spokenText = element('span', { class: 'govuk-visually-hidden', 'aria-live': 'polite', 'aria-atomic': 'true' })
    this.error = element('p', { class: 'govuk-error-message', role: 'alert' })
    this.stayButton = element('button', { type: 'button', class: 'govuk-button' }, ['Stay signed in'])
    // Signing out changes state, so it is a POST with the CSRF token, the same as the page's own sign-out form.
    this.signOutForm = element('form', { method: 'post', action: this.signOutUrl, novalidate: '' }, [
      element('div', { class: 'govuk-button-group' }, [
        this.stayButton,
        element('button', { type: 'submit', class: 'govuk-button govuk-button--secondary' }, ['Sign out'])
      ])
    ])
    if (this.csrfToken) {
      this.signOutForm.prepend(element('input', { type: 'hidden', name: this.csrfField, value: this.csrfToken }))
    }

    this.dialog = element(
      'dialog',
      {
        class: 'portal-timeout-warning',
        role: 'alertdialog',
        'aria-modal': 'true',
        'aria-labelledby': headingId,
        'aria-describedby': descriptionId
      },
      [
        element('h2', { id: headingId, class: 'govuk-heading-m' }, ['You’re about to be signed out']),
        element('p', { id: descriptionId, class: 'govuk-body' }, [
          element('span', { 'aria-hidden': 'true' }, ['For your security, we will sign you out in ', this.visibleTime, '.']),
          this.spokenText
        ]),
        this.error,
        this.signOutForm
      ]
    )

    this.stayButton.addEventListener('click', () => this.stayActive())
    // Escape means "not now", never "sign me out": treat it like the button.
    this.dialog.addEventListener('cancel', (event) => {
      event.preventDefault()
      this.stayActive()
    })
    // A browser may close a modal without a cancellable event (a repeated Escape); that is still "not now".
    this.dialog.addEventListener('close', () => {
      if (!this.closingOurselves) this.stayActive()
      this.closingOurselves = false
    })
  }

  check () {
    window.clearTimeout(this.timer)
    if (this.expired) return
    const left = this.deadline - Date.now()
    if (left <= 0) {
      this.expire()
    } else if (left <= this.warningMs) {
      this.show(Math.ceil(left / 1000))
      // Wake on the next whole second so the visible count does not skip numbers.
      this.timer = window.setTimeout(() => this.check(), left % 1000 || 1000)
    } else {
      this.hide()
      this.timer = window.setTimeout(() => this.check(), left - this.warningMs)
    }
  }

  show (secondsLeft) {
    this.visibleTime.textContent = duration(secondsLeft)
    const step = spokenStep(secondsLeft)
    if (step !== this.spoken) {
      this.spoken = step
      this.spokenText.textContent = `For your security, we will sign you out in ${duration(secondsLeft)}.`
    }
    if (this.dialog.open) return
    this.error.textContent = ''
    this.returnFocusTo = document.activeElement
    this.dialog.showModal()
    // The least drastic choice takes focus, so Enter or Space keeps the person signed in.
    this.stayButton.focus()
  }

  hide () {
    this.spoken = null
    if (!this.dialog.open) return
    this.closingOurselves = true
    this.dialog.close()
    const target = this.returnFocusTo
    this.returnFocusTo = null
    if (target instanceof HTMLElement && target.isConnected && target !== document.body) target.focus()
  }

  async stayActive () {
    if (this.sending || this.expired) return
    this.sending = true
    try {
      const response = await window.fetch(this.keepAliveUrl, this.keepAliveRequest())
      // A redirect (to sign in) or any refusal means the session has already ended on the server.
      if (!response.ok) {
        this.expire()
        return
      }
      const now = Date.now()
      this.deadline = now + this.idleMs
      this.announceActivity(now)
      this.check()
    } catch {
      // The server could not be reached: the session may well still be alive, so keep counting and let them retry.
      if (!this.dialog.open) this.check()
      this.error.textContent = 'We could not keep you signed in. Check your connection and try again.'
    } finally {
      this.sending = false
    }
  }

  keepAliveRequest () {
    const request = {
      method: this.keepAliveMethod,
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'manual',
      headers: { Accept: 'application/json' }
    }
    if (this.keepAliveMethod === 'POST') {
      const body = new URLSearchParams()
      if (this.csrfToken) body.set(this.csrfField, this.csrfToken)
      request.body = body
    }
    return request
  }

  announceActivity (at) {
    if (this.channel) this.channel.postMessage({ type: 'activity', at })
  }

  heard (message) {
    if (!message || message.type !== 'activity' || !Number.isFinite(message.at)) return
    const deadline = Math.min(message.at, Date.now()) + this.idleMs
    if (deadline > this.deadline) {
      this.deadline = deadline
      this.check()
    }
  }

  // Time is up: sign out for real rather than only leave the page, so the tokens are revoked at once and a
  // browser left open shows nothing more. The server answers a session that has already ended the same way.
  expire () {
    if (this.expired) return
    this.expired = true
    window.clearTimeout(this.timer)
    this.signOutForm.submit()
  }
}

export function initTimeoutWarnings (scope = document) {
  // Without a modal <dialog> there is no accessible way to interrupt, so leave it to the server.
  if (typeof HTMLDialogElement !== 'function' || !('showModal' in HTMLDialogElement.prototype)) return []
  return Array.from(scope.querySelectorAll('[data-module="timeout-warning"]'))
    .filter((root) => !root.hasAttribute('data-timeout-warning-init'))
    .map((root) => {
      root.setAttribute('data-timeout-warning-init', '')
      return new TimeoutWarning(root)
    })
}
