;;; kimi-eglot-test.el --- kimi-lsp through eglot, in `emacs --batch'  -*- lexical-binding: t -*-

;; Run by tests/e2e/editor_emacs.rs, which prepares everything this script reads:
;;   KIMI_TEST_README     editors/emacs/README.md: its first emacs-lisp block and the one in its
;;                        "Chat" section are evaluated, so the snippets users copy are under test
;;   KIMI_TEST_WORKSPACE  a project with calc.py (completion), total.py (code action) and
;;                        notes.kimi.md (chat file)
;;   KIMI_TEST_OUT        where the buffers are written after each step
;; `kimi-lsp' is on PATH, pointed at a local stand-in for the Moonshot API.
;;
;; Each step does what a user does: `completion-at-point' (what company and corfu call too),
;; `eglot-code-actions' and the README's `kimi-ask'. Any failure prints "KIMI-TEST FAIL: ..." and eglot's event log, then
;; exits with status 1.

(require 'package)
(package-initialize)
(require 'eglot)
(require 'cl-lib)
(require 'python)

(defvar kimi-test-server nil)

(defun kimi-test-env (name)
  (or (getenv name) (kimi-test-fail "%s is not set" name)))

(defun kimi-test-fail (fmt &rest args)
  (message "KIMI-TEST FAIL: %s" (apply #'format fmt args))
  (when kimi-test-server
    (let ((events (jsonrpc-events-buffer kimi-test-server)))
      (when (buffer-live-p events)
        (message "--- eglot events ---\n%s"
                 (with-current-buffer events (buffer-substring-no-properties (point-min) (point-max)))))))
  (kill-emacs 1))

(defun kimi-test-wait (what pred &optional seconds)
  "Polls PRED, letting process output in, until it is non-nil; fails after SECONDS (10)."
  (let ((deadline (+ (float-time) (or seconds 10))))
    (while (not (funcall pred))
      (when (> (float-time) deadline)
        (kimi-test-fail "timed out waiting for %s" what))
      (accept-process-output nil 0.05))))

(defun kimi-test-save (name)
  (write-region (point-min) (point-max) (expand-file-name name (kimi-test-env "KIMI_TEST_OUT")) nil 'quiet))

(defun kimi-test-readme-snippet (file &optional heading)
  "The first emacs-lisp code block of the Markdown FILE (after the line HEADING, if given)."
  (with-temp-buffer
    (insert-file-contents file)
    (goto-char (point-min))
    (when (and heading (not (re-search-forward (concat "^" (regexp-quote heading) "$") nil t)))
      (kimi-test-fail "no line %S in %s" heading file))
    (unless (re-search-forward "^```emacs-lisp\n" nil t)
      (kimi-test-fail "no emacs-lisp block in %s" file))
    (let ((start (point)))
      (unless (re-search-forward "^```$" nil t)
        (kimi-test-fail "the emacs-lisp block in %s is not closed" file))
      (buffer-substring-no-properties start (match-beginning 0)))))

(defun kimi-test-server-text ()
  "The current buffer's text as the server holds it (kimi/documentState)."
  (plist-get (jsonrpc-request kimi-test-server :kimi/documentState
                              `(:textDocument (:uri ,(eglot--path-to-uri buffer-file-name))))
             :text))

(defun kimi-test-eval-snippet (&optional heading)
  (eval (car (read-from-string
              (concat "(progn\n" (kimi-test-readme-snippet (kimi-test-env "KIMI_TEST_README") heading) "\n)")))
        t))

(defun kimi-test-stream-until (what pred seconds)
  "Like `kimi-test-wait', and reports the current buffer's changes to the server as eglot's idle
timer does (batch Emacs is never idle, so the timer never fires here)."
  (let ((buffer (current-buffer)))
    (kimi-test-wait what
                    (lambda ()
                      (with-current-buffer buffer
                        (when eglot--recent-changes
                          (eglot--signal-textDocument/didChange))
                        (funcall pred)))
                    seconds)))

(condition-case err
    (progn
      ;; The README's snippets, as a user's init file would have them.
      (kimi-test-eval-snippet)
      (kimi-test-eval-snippet "## Chat")
      (let ((contact (nth 2 (eglot--lookup-mode 'python-mode))))
        (unless (equal contact '("kimi-lsp"))
          (kimi-test-fail "the README snippet does not register kimi-lsp for python-mode, eglot would run %S"
                          (if (functionp contact) "its default Python servers" contact))))
      ;; Server-initiated edits (a code action's workspace/applyEdit) apply without a prompt.
      (setq eglot-confirm-server-initiated-edits nil)

      ;; 1. Completion: the suggestion arrives as a completion item and goes into the buffer.
      (let ((default-directory (file-name-as-directory (kimi-test-env "KIMI_TEST_WORKSPACE"))))
        (find-file "calc.py"))
      (unless (eq major-mode 'python-mode)
        (kimi-test-fail "calc.py opened in %s, not python-mode" major-mode))
      ;; What M-x eglot does, minus the prompts.
      (apply #'eglot (eglot--guess-contact))
      (kimi-test-wait "eglot to connect" (lambda () (eglot-current-server)))
      (setq kimi-test-server (eglot-current-server))
      (unless (memq #'eglot-completion-at-point completion-at-point-functions)
        (kimi-test-fail "eglot did not add its completion-at-point function"))
      (goto-char (point-min))
      (search-forward "; res")
      (completion-at-point)
      (kimi-test-save "calc.py")
      (kimi-test-wait "the server to see the completed line"
                      (lambda () (equal (kimi-test-server-text) (buffer-string))))

      ;; 1b. Ghost text with the README's kimi.el set-up: typing brings a suggestion after point;
      ;; M-<right> inserts its first word and keeps the rest shown, TAB the rest.
      (let ((dir (file-name-directory (kimi-test-env "KIMI_TEST_README"))))
        (eval (car (read-from-string
                    (concat "(progn\n"
                            (replace-regexp-in-string
                             (regexp-quote "/path/to/kimi-lsp/editors/emacs") (directory-file-name dir)
                             (kimi-test-readme-snippet (kimi-test-env "KIMI_TEST_README") "## Ghost text")
                             t t)
                            "\n)")))
              t))
      (let ((default-directory (file-name-as-directory (kimi-test-env "KIMI_TEST_WORKSPACE"))))
        (find-file "geometry.py"))
      (kimi-test-wait "eglot to manage geometry.py" (lambda () (eq (eglot-current-server) kimi-test-server)))
      (unless (bound-and-true-p kimi-ghost-mode)
        (kimi-test-fail "the README's hook did not turn kimi-ghost-mode on in geometry.py"))
      ;; Settings that turn Python's suggestions off, sent as the README says: the mode line
      ;; says so, and why; set back, it says Kimi again.
      (let ((before (default-value 'eglot-workspace-configuration))
            ;; The lighter the mode put in the mode line (batch Emacs draws no mode line):
            ;; `(:eval FORM)'.
            (lighter (lambda () (eval (cadr (cadr (assq 'kimi-ghost-mode minor-mode-alist))) t))))
        (setq-default eglot-workspace-configuration '(:kimi (:completion (:languages (:python :json-false)))))
        (eglot-signal-didChangeConfiguration kimi-test-server)
        (kimi-test-wait "the mode line to say Kimi is off"
                        (lambda () (string-match-p "\\` Kimi\\[off\\]\\'" (funcall lighter))))
        (unless (string-match-p "python" (or (kimi-off-here) ""))
          (kimi-test-fail "kimi-off-here gives no reason naming python: %S" (kimi-off-here)))
        (setq-default eglot-workspace-configuration before)
        (eglot-signal-didChangeConfiguration kimi-test-server)
        (kimi-test-wait "the mode line to say Kimi is on"
                        (lambda () (equal (funcall lighter) " Kimi"))))
      (goto-char (point-max))
      ;; Typing, as the command loop runs it: the command, then `post-command-hook'.
      (insert "    return ")
      (run-hooks 'post-command-hook)
      (let (shown after-word)
        (kimi-test-wait "ghost text after typing" (lambda () (setq shown (kimi-ghost-text))))
        (kimi-accept-word)
        (run-hooks 'post-command-hook)
        (setq after-word (kimi-ghost-text))
        (kimi-accept)
        ;; Asked for at once (`kimi-complete'), several suggestions: M-n shows the next, M-p
        ;; the first again (pressed as keys, so that the keymap is under test too).
        (insert "\ndef scale(w, k):\n    return ")
        (let (first next back)
          (kimi-complete)
          (kimi-test-wait "suggestions asked for" (lambda () (setq first (kimi-ghost-text))))
          (execute-kbd-macro (kbd "M-n"))
          (setq next (kimi-ghost-text))
          (execute-kbd-macro (kbd "M-p"))
          (setq back (kimi-ghost-text))
          (kimi-ghost-mode -1)
          (with-temp-file (expand-file-name "ghost.txt" (kimi-test-env "KIMI_TEST_OUT"))
            (insert shown "\n" (or after-word "<nothing shown>") "\n"
                    (or first "<nothing>") "\n" (or next "<nothing>") "\n" (or back "<nothing>") "\n"))))
      (kimi-test-save "geometry.py")
      (kimi-test-wait "the server to count the accepted suggestion"
                      (lambda ()
                        (>= (or (plist-get (jsonrpc-request kimi-test-server :kimi/status nil) :acceptedCompletions) 0)
                            1)))

      ;; 2. A code action: "Kimi: Rewrite" under a `# kimi:' comment, run as
      ;; M-x eglot-code-action-rewrite runs it; its edit comes back as workspace/applyEdit.
      (let ((default-directory (file-name-as-directory (kimi-test-env "KIMI_TEST_WORKSPACE"))))
        (find-file "total.py"))
      (kimi-test-wait "eglot to manage total.py" (lambda () (eq (eglot-current-server) kimi-test-server)))
      (let ((before (buffer-string))
            beg end)
        (goto-char (point-min))
        (forward-line 2)
        (setq beg (point))
        (search-forward "t += x\n")
        (setq end (point))
        (eglot-code-actions beg end "refactor.rewrite" t)
        (kimi-test-wait "the rewrite to reach the buffer" (lambda () (not (equal (buffer-string) before))) 15))
      (kimi-test-save "total.py")
      ;; Eglot reports edits from an idle timer, and batch Emacs is never idle: do what the
      ;; timer does.
      (eglot--signal-textDocument/didChange)
      (kimi-test-wait "the server to see the rewritten buffer"
                      (lambda () (equal (kimi-test-server-text) (buffer-string))))

      (eglot-shutdown kimi-test-server)

      ;; 3. A chat file: `kimi-ask' runs "Ask Kimi"; the command answers once the `## Kimi'
      ;; heading is in, then the answer streams in as edits. With the heading sent right behind
      ;; the command's reply, Emacs 28's jsonrpc left it unread and this step timed out.
      (let ((default-directory (file-name-as-directory (kimi-test-env "KIMI_TEST_WORKSPACE"))))
        (find-file "notes.kimi.md"))
      (unless (eq major-mode 'kimi-chat-mode)
        (kimi-test-fail "notes.kimi.md opened in %s, not the README's kimi-chat-mode" major-mode))
      (apply #'eglot (eglot--guess-contact))
      (kimi-test-wait "eglot to manage notes.kimi.md"
                      (lambda () (and (eglot-current-server) (not (eq (eglot-current-server) kimi-test-server)))))
      (setq kimi-test-server (eglot-current-server))
      (goto-char (point-max))
      (let ((question (buffer-string)))
        (kimi-ask)
        (unless (string-prefix-p (concat question "\n## Kimi\n\n") (buffer-string))
          (kimi-test-fail "Ask Kimi returned before its heading was in: %S" (buffer-string)))
        (kimi-test-stream-until "the answer and the next `## You'"
                                (lambda () (string-suffix-p "\n## You\n\n" (buffer-string)))
                                20))
      (kimi-test-save "notes.kimi.md")
      (kimi-test-wait "the server to see the whole answer"
                      (lambda () (equal (kimi-test-server-text) (buffer-string))))
      (eglot-shutdown kimi-test-server)
      (message "KIMI-TEST OK")
      (kill-emacs 0))
  (error (kimi-test-fail "%s" (error-message-string err))))

;;; kimi-eglot-test.el ends here
