;;; kimi.el --- Kimi's suggestions as ghost text in eglot buffers  -*- lexical-binding: t -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: convenience, tools
;; URL: https://github.com/kimi-lsp/kimi-lsp

;;; Commentary:

;; kimi-lsp answers `textDocument/inlineCompletion' (LSP 3.18), which eglot never asks for.
;; `kimi-ghost-mode' does: in a buffer eglot manages with kimi-lsp, a moment after a command of
;; yours changed the buffer it asks for a suggestion and shows it after point in the `kimi-ghost'
;; face.  While it is shown:
;;
;;   TAB          `kimi-accept'       insert it
;;   M-<right>    `kimi-accept-word'  insert its next word, keep showing the rest
;;   C-M-<right>  `kimi-accept-line'  insert the rest of its line (at a line's end: the next line)
;;   M-n / M-p    `kimi-next' / `kimi-previous'  the other suggestions (asks for several first)
;;
;; `kimi-complete' asks at once, for several suggestions; bind it to a key of your choice.
;;
;; Typing what it shows keeps it (kimi-lsp answers the rest from memory, no model call); any
;; other change or move hides it.  Otherwise those keys do what they always do.  Accepting tells
;; the server, which counts the acceptance rate `kimi-lsp usage' shows.  Where kimi-lsp gives
;; no suggestions (its `completion.languages' and `completion.exclude' settings, a secret or
;; binary file), the mode line reads " Kimi[off]"; `kimi-off-here' says why.
;;
;; Set up (see editors/emacs/README.md): register kimi-lsp with eglot, then
;;
;;   (add-to-list 'load-path "/path/to/kimi-lsp/editors/emacs")
;;   (require 'kimi)
;;   (add-hook 'eglot-managed-mode-hook #'kimi-ghost-mode-maybe)
;;
;; No AI logic lives here: the server decides what to suggest and when a suggestion is stale.

;;; Code:

(require 'eglot)
(require 'jsonrpc)
(require 'cl-lib)
(require 'subr-x)

(defgroup kimi nil
  "Kimi's suggestions from kimi-lsp."
  :group 'tools
  :prefix "kimi-")

(defcustom kimi-ghost-delay 0.1
  "Seconds after the last change before asking kimi-lsp for a suggestion.
kimi-lsp debounces too, to your typing rhythm; this only spares requests."
  :type 'number)

(defface kimi-ghost '((t :inherit shadow))
  "A suggestion shown after point, not inserted yet.")

(defface kimi-ghost-count '((t :inherit kimi-ghost :slant italic))
  "The \"(1/3)\" after a suggestion when there are several.")

(defvar-local kimi--suggestion nil
  "The suggestion shown: a plist.
:start is a marker where the suggestion's text begins, :end one after
the text it replaces (auto-closed brackets after point), :text the
whole text and :command the server's accept command.")

(defvar-local kimi--shown nil
  "Non-nil while a suggestion is drawn; `kimi-ghost-map' is active then.")

(defvar kimi-ghost-mode)                 ; `define-minor-mode' below

(defvar-local kimi--overlay nil)
(defvar-local kimi--timer nil)

(defvar-local kimi--seen-tick nil
  "The buffer's modification tick after the last command.")

(defvar-local kimi--items nil
  "The items of the answer shown (a vector), for `kimi-next'.")

(defvar-local kimi--index 0
  "Which of `kimi--items' is shown.")

(defvar-local kimi--asked 0
  "Counts the requests made in this buffer: only the newest one's answer is shown.")

(defvar-local kimi--off-here nil
  "Why kimi-lsp gives this buffer no suggestions (its words), or nil.")

(defvar-local kimi--off-asked 0
  "Counts the questions whether this buffer gets suggestions.
Only the newest answer counts.")

(defvar kimi-ghost-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'kimi-accept)
    (define-key map (kbd "<tab>") #'kimi-accept)
    (define-key map (kbd "M-<right>") #'kimi-accept-word)
    (define-key map (kbd "C-M-<right>") #'kimi-accept-line)
    ;; Not M-[: a terminal's function keys arrive as ESC [ sequences.
    (define-key map (kbd "M-n") #'kimi-next)
    (define-key map (kbd "M-p") #'kimi-previous)
    map)
  "Keys active while a suggestion is shown.")

(defvar kimi--map-alist `((kimi--shown . ,kimi-ghost-map))
  "In `emulation-mode-map-alists', so that these keys win over company's.")

(add-to-list 'emulation-mode-map-alists 'kimi--map-alist)

(declare-function eglot-server-capable "eglot" (&rest feats))

(defun kimi--server ()
  "The eglot server of this buffer when it gives inline completions."
  (when-let ((server (and (eglot-managed-p) (eglot-current-server))))
    (let ((eglot--cached-server server))
      ;; Eglot 1.16 made `eglot--server-capable' public, as `eglot-server-capable'.
      (and (if (fboundp 'eglot-server-capable)
               (eglot-server-capable :inlineCompletionProvider)
             (eglot--server-capable :inlineCompletionProvider))
           server))))

(defun kimi--clear ()
  "Hides the suggestion and forgets it."
  (when kimi--overlay
    (delete-overlay kimi--overlay)
    (setq kimi--overlay nil))
  (setq kimi--shown nil
        kimi--suggestion nil
        kimi--items nil))

(defun kimi--rest ()
  "What is left of the suggestion at point after what was typed into it, or nil."
  (when-let* ((s kimi--suggestion)
              (start (plist-get s :start)))
    (when (and (eq (marker-buffer start) (current-buffer))
               (<= start (point))
               (<= (point) (plist-get s :end)))
      (let ((typed (buffer-substring-no-properties start (point)))
            (text (plist-get s :text)))
        (when (string-prefix-p typed text)
          (substring text (length typed)))))))

(defun kimi--render ()
  "Draws what is left of the suggestion after point, or hides it."
  (let ((rest (kimi--rest)))
    (if (or (null rest) (string-empty-p rest))
        (kimi--clear)
      (let* ((shown (propertize rest 'face 'kimi-ghost))
             (count (length kimi--items))
             (first-break (string-search "\n" shown)))
        (when (> count 1)
          ;; After the first line, where the eye is.
          (let ((counter (propertize (format " (%d/%d)" (1+ kimi--index) count) 'face 'kimi-ghost-count)))
            (setq shown (if first-break
                            (concat (substring shown 0 first-break) counter (substring shown first-break))
                          (concat shown counter)))))
        ;; The cursor stays before the ghost text, where typing goes.
        (put-text-property 0 1 'cursor t shown)
        (if kimi--overlay
            (move-overlay kimi--overlay (point) (point))
          (setq kimi--overlay (make-overlay (point) (point) nil t nil)))
        (overlay-put kimi--overlay 'after-string shown)
        (overlay-put kimi--overlay 'kimi-ghost t)
        (setq kimi--shown t)))))

(defun kimi--item-text (item)
  (let ((text (plist-get item :insertText)))
    (if (stringp text) text (or (plist-get text :value) ""))))

(defun kimi--show (item)
  "Shows ITEM, an InlineCompletionItem, at point."
  (let* ((range (plist-get item :range))
         (region (if range (eglot--range-region range) (cons (point) (point))))
         (items kimi--items))
    (kimi--clear)
    (setq kimi--items items)
    (setq kimi--suggestion
          (list :start (copy-marker (car region))
                ;; Typing at the end of the replaced text pushes it along.
                :end (copy-marker (max (cdr region) (point)) t)
                :text (kimi--item-text item)
                :command (plist-get item :command)))
    (kimi--render)))

(defun kimi--answered (result asked tick point)
  "Shows RESULT's first item if it answers the newest request, nothing moved.
ASKED, TICK and POINT are the request's number, the buffer's modification
tick and point when it was made."
  (when (and kimi-ghost-mode
             (= asked kimi--asked)
             (= tick (buffer-chars-modified-tick))
             (= point (point)))
    (let* ((items (if (vectorp result) result (plist-get result :items)))
           (item (and items (> (length items) 0) (aref items 0))))
      (if (not item)
          (unless (kimi--rest) (kimi--clear))
        (setq kimi--items items
              kimi--index 0)
        (kimi--show item)))))

(defun kimi--request (buffer &optional invoked)
  "Asks kimi-lsp for a suggestion at point in BUFFER.
An automatic request, as typing makes, unless INVOKED: then an explicit
one, for which kimi-lsp offers several."
  (when (buffer-live-p buffer)
    (with-current-buffer buffer
      (setq kimi--timer nil)
      (when-let ((server (and kimi-ghost-mode (eq buffer (window-buffer (selected-window))) (kimi--server))))
        ;; Eglot reports changes from an idle timer; the server must have them first.
        (when eglot--recent-changes
          (eglot--signal-textDocument/didChange))
        (let ((asked (cl-incf kimi--asked))
              (tick (buffer-chars-modified-tick))
              (point (point)))
          ;; A newer request for the document makes kimi-lsp drop an older one's model call, so
          ;; nothing needs cancelling here.
          (jsonrpc-async-request
           server :textDocument/inlineCompletion
           (append (eglot--TextDocumentPositionParams) `(:context (:triggerKind ,(if invoked 1 2))))
           :success-fn (lambda (result)
                         (when (buffer-live-p buffer)
                           (with-current-buffer buffer
                             (kimi--answered result asked tick point))))
           :error-fn #'ignore
           :timeout-fn #'ignore))))))

(defun kimi--post-command ()
  "After a command: asks again if it edited, and keeps or hides the suggestion.
Only your commands ask: edits a server applies (a code action's, a chat
answer streaming in) do not."
  (let ((tick (buffer-chars-modified-tick)))
    (unless (eql tick kimi--seen-tick)
      (setq kimi--seen-tick tick)
      (when kimi--timer
        (cancel-timer kimi--timer))
      (setq kimi--timer (run-with-timer kimi-ghost-delay nil #'kimi--request (current-buffer)))))
  (when kimi--suggestion
    (kimi--render)))

(defun kimi--tell-accepted (command)
  "Runs the server's accept COMMAND, so that it counts the suggestion accepted."
  (when-let ((server (and command (kimi--server))))
    (jsonrpc-async-request server :workspace/executeCommand
                           (list :command (plist-get command :command)
                                 :arguments (plist-get command :arguments))
                           :success-fn #'ignore :error-fn #'ignore :timeout-fn #'ignore)))

(defun kimi--fall-back ()
  "Runs what the key that called us does without a suggestion shown."
  (kimi--clear)
  (let ((command (key-binding (this-command-keys-vector) t)))
    (when (and command (not (memq command '(kimi-accept kimi-accept-word kimi-accept-line))))
      (call-interactively command))))

(defun kimi-accept ()
  "Inserts the suggestion shown, or does what the key does without one."
  (interactive)
  (let ((rest (kimi--rest))
        (suggestion kimi--suggestion))
    (if (not rest)
        (kimi--fall-back)
      (kimi--clear)
      (delete-region (point) (max (point) (plist-get suggestion :end)))
      (insert rest)
      (kimi--tell-accepted (plist-get suggestion :command)))))

(defun kimi--part (rest unit)
  "The first word or line (UNIT `word' or `line') of REST.
That is what a partial accept inserts.  A word is the blanks before it
and a run of letters, digits and `_', or else a run of other characters;
a line is the rest of the current one, or at its end the next line."
  (if (eq unit 'line)
      (let ((stop (string-search "\n" rest (if (string-prefix-p "\n" rest) 1 0))))
        (if stop (substring rest 0 stop) rest))
    (if (string-match "\\`[ \t\n]*\\(?:[[:alnum:]_]+\\|[^[:alnum:]_ \t\n]+\\)" rest)
        (match-string 0 rest)
      rest)))

(defun kimi--accept-part (unit)
  (let ((rest (kimi--rest)))
    (if (not rest)
        (kimi--fall-back)
      (let ((part (kimi--part rest unit)))
        (if (string= part rest)
            (kimi-accept)
          ;; The rest stays: what was inserted is now typed into the suggestion.
          (insert part)
          (kimi--render))))))

(defun kimi-accept-word ()
  "Inserts the next word of the suggestion shown and keeps showing the rest."
  (interactive)
  (kimi--accept-part 'word))

(defun kimi-accept-line ()
  "Inserts the rest of the suggestion's line and keeps showing the rest.
At the end of a line, that is the suggestion's next line."
  (interactive)
  (kimi--accept-part 'line))

(defun kimi-complete ()
  "Asks kimi-lsp for suggestions at point now, several of them (see `kimi-next')."
  (interactive)
  (when kimi--timer
    (cancel-timer kimi--timer)
    (setq kimi--timer nil))
  (kimi--request (current-buffer) t))

(defun kimi-next (&optional step)
  "Shows the next suggestion (STEP more; the previous one when STEP is -1).
With only one, asks kimi-lsp for several."
  (interactive)
  (let ((count (length kimi--items)))
    (if (and kimi--shown (> count 1))
        (let ((index (mod (+ kimi--index (or step 1)) count)))
          (setq kimi--index index)
          (kimi--show (aref kimi--items index)))
      (kimi-complete))))

(defun kimi-previous ()
  "Shows the previous suggestion."
  (interactive)
  (kimi-next -1))

(defun kimi-ghost-text ()
  "The suggestion shown after point, or nil."
  (and kimi--shown (kimi--rest)))

(defun kimi-dismiss ()
  "Hides the suggestion."
  (interactive)
  (kimi--clear))

(defvar kimi-ghost-mode-map (make-sparse-keymap)
  "Keys of `kimi-ghost-mode' whether or not a suggestion is shown.
Empty: bind `kimi-complete' here, for instance.")

(defun kimi--refresh-off-here (&optional buffer)
  "Asks kimi-lsp whether BUFFER (the current one) gets suggestions.
The server decides, from its settings (`completion.languages',
`completion.exclude') and the file; the mode line shows \" Kimi[off]\"
where it gives none, with the reason in its tooltip."
  (with-current-buffer (or buffer (current-buffer))
    (when-let ((server (and kimi-ghost-mode (kimi--server))))
      (let ((asked (cl-incf kimi--off-asked))
            (buffer (current-buffer)))
        (jsonrpc-async-request
         server :kimi/documentState
         (list :textDocument (eglot--TextDocumentIdentifier) :withText :json-false)
         :success-fn (lambda (result)
                       (when (buffer-live-p buffer)
                         (with-current-buffer buffer
                           (when (= asked kimi--off-asked)
                             (let ((off (plist-get result :completionsOff)))
                               (setq kimi--off-here (and (stringp off) off)))
                             (force-mode-line-update)))))
         :error-fn #'ignore
         :timeout-fn #'ignore)))))

(defun kimi--settings-sent (server)
  "After eglot sent SERVER new settings: asks again in each of its buffers."
  (dolist (buffer (buffer-list))
    (with-current-buffer buffer
      (when (and kimi-ghost-mode (eq (kimi--server) server))
        (kimi--refresh-off-here)))))

(advice-add 'eglot-signal-didChangeConfiguration :after #'kimi--settings-sent)

(defun kimi--lighter ()
  "The mode line's word for `kimi-ghost-mode'."
  (if kimi--off-here
      (propertize " Kimi[off]" 'help-echo (concat "No Kimi suggestions here: " kimi--off-here))
    " Kimi"))

(defun kimi-off-here ()
  "Why kimi-lsp gives this buffer no suggestions, or nil when it gives them."
  (interactive)
  (when (called-interactively-p 'interactive)
    (message "%s" (if kimi--off-here
                      (concat "No Kimi suggestions here: " kimi--off-here)
                    "Kimi suggests here")))
  kimi--off-here)

;;;###autoload
(define-minor-mode kimi-ghost-mode
  "Kimi's suggestions as ghost text after point, from kimi-lsp through eglot.
While one is shown:
\\{kimi-ghost-map}"
  :lighter (:eval (kimi--lighter))
  :keymap kimi-ghost-mode-map
  (if kimi-ghost-mode
      (progn
        (setq kimi--seen-tick (buffer-chars-modified-tick))
        (add-hook 'post-command-hook #'kimi--post-command nil t)
        (kimi--refresh-off-here))
    (remove-hook 'post-command-hook #'kimi--post-command t)
    (setq kimi--off-here nil)
    (when kimi--timer
      (cancel-timer kimi--timer)
      (setq kimi--timer nil))
    (kimi--clear)))

;;;###autoload
(defun kimi-ghost-mode-maybe ()
  "Turns `kimi-ghost-mode' on where eglot's server gives inline completions.
That is kimi-lsp; the mode goes off where eglot stops managing the buffer.
For `eglot-managed-mode-hook'."
  (kimi-ghost-mode (if (and (eglot-managed-p) (kimi--server)) 1 -1)))

(provide 'kimi)

;;; kimi.el ends here
