//! Data-driven tests of `gather`: a fixture holds one or more files (each after a `//- path`
//! line), `$0` marks the cursor in the current one, the others are indexed as the workspace.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use expect_test::{expect, Expect};

use super::*;
use crate::text::{Document, PositionEncoding, TextChange, TextRange};

const ROOT: &str = "/ws";

struct Fixture {
    index: WorkspaceIndex,
    doc: Document,
    cursor: usize,
}

fn fixture(text: &str) -> Fixture {
    let index = WorkspaceIndex::new();
    // The root does not exist: the walk finds nothing, but paths are shown relative to it.
    index.build(&[PathBuf::from(ROOT)]);
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("//- ") {
            files.push((path.trim().to_string(), String::new()));
        } else if let Some((_, body)) = files.last_mut() {
            body.push_str(line);
        } else {
            files.push(("src/main.rs".to_string(), line.to_string()));
        }
    }
    let mut current = None;
    for (path, body) in files {
        let full = format!("{ROOT}/{path}");
        match body.find("$0") {
            Some(at) => {
                let body = body.replacen("$0", "", 1);
                // The server indexes open documents too, as their edits settle.
                index.update_file(&full, Language::detect("", &path), &body);
                let doc = Document::new(&format!("file://{full}"), "", 1, &body);
                let cursor = body[..at].chars().count();
                current = Some((doc, cursor));
            }
            None => index.update_file(&full, Language::detect("", &path), &body),
        }
    }
    let (doc, cursor) = current.expect("a fixture marks the cursor with $0");
    Fixture { index, doc, cursor }
}

fn gather_fixture(text: &str, budget: &Budget, recent: &[Snippet]) -> CompletionContext {
    let f = fixture(text);
    gather(&f.doc.snapshot(), f.cursor, &f.index, recent, budget)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("    {l}\n") }).collect()
}

/// The completion prompt's user message for `ctx`: what the model reads.
fn user_message(ctx: &CompletionContext) -> String {
    match &crate::prompt::completion_prompt(ctx).messages[1].content {
        crate::providers::Content::Text(text) => text.clone(),
        other => panic!("not a text message: {other:?}"),
    }
}

/// The context as a readable page: code with `$0` at the cursor, then the other parts.
fn render(ctx: &CompletionContext) -> String {
    let mut out = String::new();
    let mode = if ctx.multiline { "block" } else { "line" };
    writeln!(out, "{} ({}) {mode}", ctx.path, ctx.language_name).unwrap();
    if !ctx.imports.is_empty() {
        write!(out, "imports:\n{}", indent(&ctx.imports)).unwrap();
    }
    if let Some(enclosing) = &ctx.enclosing {
        write!(out, "enclosing:\n{}", indent(enclosing)).unwrap();
    }
    write!(out, "code:\n{}", indent(&format!("{}$0{}", ctx.prefix, ctx.suffix))).unwrap();
    writeln!(out, "line: {:?} $0 {:?}", ctx.line_prefix, ctx.line_suffix).unwrap();
    for s in &ctx.cross_file {
        let SnippetKind::Definition { symbol } = &s.why else {
            panic!("cross-file snippets are definitions");
        };
        write!(out, "definition of {symbol} in {}:\n{}", s.path, indent(&s.text)).unwrap();
    }
    for s in &ctx.recent_edits {
        write!(out, "recent edit in {}:\n{}", s.path, indent(&s.text)).unwrap();
    }
    out
}

/// The names whose definitions the cross-file part brings for a fixture, best first.
fn definitions(text: &str) -> Vec<String> {
    let ctx = gather_fixture(text, &Budget::default(), &[]);
    ctx.cross_file
        .iter()
        .map(|s| match &s.why {
            SnippetKind::Definition { symbol } => symbol.clone(),
            other => panic!("cross-file snippets are definitions, not {other:?}"),
        })
        .collect()
}

fn check(text: &str, expect: Expect) {
    check_with(&Budget::default(), text, expect);
}

fn check_with(budget: &Budget, text: &str, expect: Expect) {
    expect.assert_eq(&render(&gather_fixture(text, budget, &[])));
}

fn small(prefix_chars: usize, suffix_chars: usize) -> Budget {
    Budget { prefix_chars, suffix_chars, ..Budget::default() }
}

#[test]
fn rust_names_near_the_cursor_bring_their_definitions_from_other_files() {
    check(
        r#"
//- src/parser.rs
pub struct Parser { pub pos: usize }
impl Parser {
    pub fn new(text: &str) -> Parser { todo!() }
    pub fn next_token(&mut self) -> Option<Token> { None }
}
pub enum Token { Word(String), End }
pub fn unrelated() {}
//- src/lexer.rs
pub struct Lexer;
impl Lexer { pub fn new() -> Lexer { todo!() } }
//- src/main.rs
use crate::parser::{Parser, Token};

fn count(text: &str) -> usize {
    let mut parser = Parser::new(text);
    let mut n = 0;
    while let Some(Token::Word(w)) = parser.next_token() {
        n += w.len();
    }
    $0
}

fn local() -> u8 { 0 }
"#,
        expect![[r#"
            src/main.rs (Rust) block
            code:
                use crate::parser::{Parser, Token};

                fn count(text: &str) -> usize {
                    let mut parser = Parser::new(text);
                    let mut n = 0;
                    while let Some(Token::Word(w)) = parser.next_token() {
                        n += w.len();
                    }
                    $0
                }

                fn local() -> u8 { 0 }
            line: "    " $0 ""
            definition of Token in src/parser.rs:
                pub enum Token { Word(String), End }
            definition of Parser in src/parser.rs:
                pub struct Parser { pub pos: usize }
            definition of new in src/parser.rs:
                impl Parser { pub fn new(text: &str) -> Parser; }
            definition of next_token in src/parser.rs:
                impl Parser { pub fn next_token(&mut self) -> Option<Token>; }
        "#]],
    );
}

#[test]
fn a_cut_prefix_brings_the_imports_and_the_enclosing_headers() {
    let methods: String =
        (0..12).map(|i| format!("    pub fn get{i}(&self) -> u32 {{\n        self.values[{i}]\n    }}\n\n")).collect();
    let text = format!(
        "use std::collections::HashMap;\nuse crate::store::Store;\n\npub struct Table {{ values: Vec<u32> }}\n\nimpl Table {{\n{methods}    pub fn total(\n        &self,\n        store: &Store,\n    ) -> u32 {{\n        let mut sum = 0;\n        for v in &self.values {{\n            sum += v;\n        }}\n        let extra = store.extra();\n        sum + $0\n    }}\n}}\n"
    );
    check_with(
        &small(180, 40),
        &text,
        expect![[r#"
            src/main.rs (Rust) line
            imports:
                use std::collections::HashMap;
                use crate::store::Store;
            enclosing:
                impl Table {
                    pub fn total(
                        &self,
                        store: &Store,
                    ) -> u32 {
            code:
                        let mut sum = 0;
                        for v in &self.values {
                            sum += v;
                        }
                        let extra = store.extra();
                        sum + $0
                    }
                }
            line: "        sum + " $0 ""
        "#]],
    );
}

#[test]
fn java_and_csharp_cut_prefixes_bring_the_imports_and_the_enclosing_headers() {
    let methods: String =
        (0..12).map(|i| format!("    public int get{i}() {{\n        return values[{i}];\n    }}\n\n")).collect();
    let java = format!(
        "//- src/main/java/com/acme/Table.java\npackage com.acme;\n\nimport java.util.List;\nimport com.acme.store.Store;\n\npublic class Table {{\n    private int[] values;\n\n{methods}    public int total(\n            Store store,\n            boolean strict) {{\n        int sum = 0;\n        for (int v : values) {{\n            sum += v;\n        }}\n        int extra = store.extra();\n        return sum + $0\n    }}\n}}\n"
    );
    check_with(
        &small(180, 40),
        &java,
        expect![[r#"
        src/main/java/com/acme/Table.java (Java) line
        imports:
            package com.acme;
            import java.util.List;
            import com.acme.store.Store;
        enclosing:
            public class Table {
                public int total(
                        Store store,
                        boolean strict) {
        code:
                    int sum = 0;
                    for (int v : values) {
                        sum += v;
                    }
                    int extra = store.extra();
                    return sum + $0
                }
            }
        line: "        return sum + " $0 ""
    "#]],
    );
    let methods: String = (0..12)
        .map(|i| format!("        public int Get{i}()\n        {{\n            return values[{i}];\n        }}\n\n"))
        .collect();
    let csharp = format!(
        "//- Shop/Table.cs\nusing System;\n\nnamespace Shop\n{{\n    using Shop.Store;\n\n    public class Table\n    {{\n{methods}        public int Total(IStore store)\n        {{\n            var sum = 0;\n            foreach (var v in values)\n            {{\n                sum += v;\n            }}\n            return sum + $0\n        }}\n    }}\n}}\n"
    );
    check_with(
        &small(180, 40),
        &csharp,
        expect![[r#"
        Shop/Table.cs (C#) line
        imports:
            using System;
                using Shop.Store;
        enclosing:
            namespace Shop {
                public class Table {
                    public int Total(IStore store) {
        code:
                        var sum = 0;
                        foreach (var v in values)
                        {
                            sum += v;
                        }
                        return sum + $0
                    }
                }
            }
        line: "            return sum + " $0 ""
    "#]],
    );
}

#[test]
fn python_method_after_a_block_header() {
    check(
        r#"
//- shapes/base.py
class Shape:
    """A shape."""
    name: str

    def area(self) -> float:
        raise NotImplementedError

def scale(shape: Shape, factor: float) -> Shape:
    return shape
//- shapes/circle.py
import math
from shapes.base import Shape, scale

class Circle(Shape):
    def __init__(self, r: float):
        self.r = r

    def area(self) -> float:$0

    def grow(self, factor):
        return scale(self, factor)
"#,
        expect![[r#"
            shapes/circle.py (Python) block
            code:
                import math
                from shapes.base import Shape, scale

                class Circle(Shape):
                    def __init__(self, r: float):
                        self.r = r

                    def area(self) -> float:$0

                    def grow(self, factor):
            line: "    def area(self) -> float:" $0 ""
            definition of scale in shapes/base.py:
                def scale(shape: Shape, factor: float) -> Shape: ...
            definition of Shape in shapes/base.py:
                class Shape:
                    name: str
                    def area(self) -> float: ...
        "#]],
    );
}

#[test]
fn typescript_interface_and_arrow_function_from_other_files() {
    check_with(
        &small(160, 200),
        r#"
//- src/types.ts
export interface User {
  id: number;
  name: string;
}
export const fetchUser = async (id: number): Promise<User> => {
  return { id, name: "" };
};
//- src/view.ts
import { User, fetchUser } from "./types";
const path = require("path");

export function header(title: string): string {
  return title.toUpperCase();
}

export async function show(id: number): Promise<string> {
  const user: User = await fetchUser(id);
  const label = header(user.name);
  return `${label} ${$0}`;
}
"#,
        expect![[r#"
            src/view.ts (TypeScript) line
            imports:
                import { User, fetchUser } from "./types";
                const path = require("path");
            enclosing:
                export async function show(id: number): Promise<string> {
            code:
                  const user: User = await fetchUser(id);
                  const label = header(user.name);
                  return `${label} ${$0}`;
                }
            line: "  return `${label} ${" $0 "}`;"
            definition of User in src/types.ts:
                export interface User {
                  id: number;
                  name: string;
                }
            definition of fetchUser in src/types.ts:
                export const fetchUser = async (id: number): Promise<User> =>
        "#]],
    );
}

#[test]
fn go_method_from_another_file() {
    check(
        r#"
//- store/item.go
package store

type Item struct {
	ID   int
	Name string
}

func (s *Store) Find(id int) (*Item, error) {
	return nil, nil
}
//- store/handler.go
package store

import "fmt"

func Describe(s *Store, id int) string {
	item, err := s.Find(id)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d", $0)
}
"#,
        expect![[r#"
            store/handler.go (Go) line
            code:
                package store

                import "fmt"

                func Describe(s *Store, id int) string {
                	item, err := s.Find(id)
                	if err != nil {
                		return ""
                	}
                	return fmt.Sprintf("%d", $0)
                }
            line: "\treturn fmt.Sprintf(\"%d\", " $0 ")"
            definition of Find in store/item.go:
                func (s *Store) Find(id int) (*Item, error)
        "#]],
    );
}

#[test]
fn java_method_call_brings_the_class_surface_from_another_file() {
    check(
        r#"
//- src/main/java/com/acme/users/UserRepository.java
package com.acme.users;

public class UserRepository {
    private final Map<Long, User> cache = new HashMap<>();

    public Optional<User> findUser(long id) {
        return Optional.ofNullable(cache.get(id));
    }

    public void save(User user) {
        cache.put(user.id(), user);
    }

    private void evict(long id) {
        cache.remove(id);
    }
}
//- src/main/java/com/acme/users/User.java
package com.acme.users;

public record User(long id, String name) {}
//- src/main/java/com/acme/users/UserService.java
package com.acme.users;

import java.util.Optional;

public class UserService {
    private final UserRepository repo;

    public String greet(long id) {
        Optional<User> user = repo.findUser(id);
        return $0
    }
}
"#,
        expect![[r#"
            src/main/java/com/acme/users/UserService.java (Java) line
            code:
                package com.acme.users;

                import java.util.Optional;

                public class UserService {
                    private final UserRepository repo;

                    public String greet(long id) {
                        Optional<User> user = repo.findUser(id);
                        return $0
                    }
                }
            line: "        return " $0 ""
            definition of User in src/main/java/com/acme/users/User.java:
                public record User(long id, String name) {}
            definition of UserRepository in src/main/java/com/acme/users/UserRepository.java:
                public class UserRepository {
                    public Optional<User> findUser(long id);
                    public void save(User user);
                }
        "#]],
    );
}

#[test]
fn c_prototypes_and_structs_from_a_header() {
    check(
        r#"
//- include/list.h
#ifndef LIST_H
#define LIST_H

#define LIST_MAX 64

struct node {
    int value;
    struct node *next;
};

typedef struct {
    struct node *head;
    int len;
} list_t;

int list_push(list_t *list, int value);
int list_unused(void);

#endif
//- src/main.c
#include <stdio.h>
#include "list.h"

static int sum(const list_t *list) {
    int total = 0;
    for (struct node *n = list->head; n; n = n->next) {
        total += n->value;
    }
    return total;
}

int main(void) {
    list_t list = {0};
    for (int i = 0; i < LIST_MAX; i++) {
        list_push(&list, i);
    }
    $0
}
"#,
        expect![[r#"
            src/main.c (C) block
            code:
                #include <stdio.h>
                #include "list.h"

                static int sum(const list_t *list) {
                    int total = 0;
                    for (struct node *n = list->head; n; n = n->next) {
                        total += n->value;
                    }
                    return total;
                }

                int main(void) {
                    list_t list = {0};
                    for (int i = 0; i < LIST_MAX; i++) {
                        list_push(&list, i);
                    }
                    $0
                }
            line: "    " $0 ""
            definition of list_push in include/list.h:
                int list_push(list_t *list, int value)
            definition of list_t in include/list.h:
                typedef struct {
                    struct node *head;
                    int len;
                } list_t;
            definition of LIST_MAX in include/list.h:
                #define LIST_MAX 64
        "#]],
    );
}

#[test]
fn csharp_member_call_brings_the_method_signature_from_another_file() {
    check(
        r#"
//- Shop/Orders/OrderStore.cs
namespace Shop.Orders;

public class OrderStore
{
    private readonly List<Order> orders = new();

    public Order? FindOrder(Guid id)
    {
        return orders.FirstOrDefault(o => o.Id == id);
    }

    public IReadOnlyList<Order> All => orders;
}
//- Shop/Orders/Checkout.cs
using System;
using Shop.Orders;

namespace Shop.Checkout
{
    public class Checkout
    {
        private readonly OrderStore store;

        public decimal Total(Guid id)
        {
            var order = store.FindOrder(id);
            var label = $"order {id}";
            $0
        }
    }
}
"#,
        expect![[r#"
            Shop/Orders/Checkout.cs (C#) block
            code:
                using System;
                using Shop.Orders;

                namespace Shop.Checkout
                {
                    public class Checkout
                    {
                        private readonly OrderStore store;

                        public decimal Total(Guid id)
                        {
                            var order = store.FindOrder(id);
                            var label = $"order {id}";
                            $0
                        }
                    }
                }
            line: "            " $0 ""
            definition of OrderStore in Shop/Orders/OrderStore.cs:
                public class OrderStore {
                    public Order? FindOrder(Guid id);
                    public IReadOnlyList<Order> All { get; }
                }
        "#]],
    );
}

#[test]
fn cpp_method_body_brings_its_class_and_the_declarations_it_calls() {
    check_with(
        &small(200, 60),
        r#"
//- src/widget.hpp
#pragma once
#include <string>

namespace ui {

class Canvas;

class Widget {
public:
    explicit Widget(int w);
    void resize(int w, int h);
    int area() const;
    void draw(Canvas &canvas) const;

private:
    int w_ = 0;
    int h_ = 0;
};

int clamp_size(int value, int max);

}  // namespace ui
//- src/widget.cpp
#include "widget.hpp"

#include <algorithm>

using namespace std;

namespace ui {

Widget::Widget(int w) : w_(w) {}

void Widget::resize(int w, int h) {
    // A long comment so that the window starts below the function's header, and the
    // enclosing scopes are shown as headers instead.
    w_ = clamp_size(w, 4096);
    h_ = clamp_size(h, 4096);
    if (area() > 1000000) {
        $0
    }
}

}  // namespace ui
"#,
        expect![[r#"
            src/widget.cpp (C++) block
            imports:
                #include "widget.hpp"
                #include <algorithm>
                using namespace std;
            enclosing:
                namespace ui {
                void Widget::resize(int w, int h) {
            code:
                    // enclosing scopes are shown as headers instead.
                    w_ = clamp_size(w, 4096);
                    h_ = clamp_size(h, 4096);
                    if (area() > 1000000) {
                        $0
                    }
                }

                }  // namespace ui
            line: "        " $0 ""
            definition of clamp_size in src/widget.hpp:
                int clamp_size(int value, int max)
            definition of Widget in src/widget.hpp:
                class Widget {
                public:
                    explicit Widget(int w);
                    void resize(int w, int h);
                    int area() const;
                    void draw(Canvas &canvas) const;

                private:
                    int w_ = 0;
                    int h_ = 0;
                }
        "#]],
    );
}

#[test]
fn java_and_csharp_parameters_and_locals_are_not_looked_up() {
    check(
        r#"
//- src/Util.java
public class Util {
    public static int count(List<?> xs) { return xs.size(); }
    public static int total() { return 0; }
    public static int scale(int x) { return x * 2; }
}
//- src/Main.java
class Main {
    int f(int count) {
        int total = count + 1;
        items.forEach(item -> item.run());
        return Util.scale(total) + $0;
    }
}
"#,
        expect![[r#"
            src/Main.java (Java) line
            code:
                class Main {
                    int f(int count) {
                        int total = count + 1;
                        items.forEach(item -> item.run());
                        return Util.scale(total) + $0;
                    }
                }
            line: "        return Util.scale(total) + " $0 ";"
            definition of Util in src/Util.java:
                public class Util {
                    public static int count(List<?> xs);
                    public static int total();
                    public static int scale(int x);
                }
        "#]],
    );
    check(
        r#"
//- src/Calc.cs
public class Calc
{
    public static int Twice(int x) => x * 2;
    public static int Seed() => 1;
    public static int Item() => 1;
}
//- src/Main.cs
class Main
{
    int F(int Seed)
    {
        foreach (var Item in items) { }
        return Calc.Twice(Seed) + $0;
    }
}
"#,
        expect![[r#"
            src/Main.cs (C#) line
            code:
                class Main
                {
                    int F(int Seed)
                    {
                        foreach (var Item in items) { }
                        return Calc.Twice(Seed) + $0;
                    }
                }
            line: "        return Calc.Twice(Seed) + " $0 ";"
            definition of Calc in src/Calc.cs:
                public class Calc {
                    public static int Twice(int x);
                    public static int Seed();
                    public static int Item();
                }
        "#]],
    );
}

#[test]
fn java_package_private_definitions_stay_in_their_package() {
    check(
        r#"
//- src/main/java/com/acme/a/Helper.java
package com.acme.a;

class Helper {
    static int assist() { return 1; }
}
//- src/main/java/com/acme/a/Api.java
package com.acme.a;

public class Api {
    public static int call() { return 2; }
    static int internalCall() { return 3; }
}
//- src/main/java/com/acme/b/Main.java
package com.acme.b;

class Main {
    int run() {
        return Helper.assist() + Api.call() + Api.internalCall() + $0;
    }
}
"#,
        expect![[r#"
            src/main/java/com/acme/b/Main.java (Java) line
            code:
                package com.acme.b;

                class Main {
                    int run() {
                        return Helper.assist() + Api.call() + Api.internalCall() + $0;
                    }
                }
            line: "        return Helper.assist() + Api.call() + Api.internalCall() + " $0 ";"
            definition of Api in src/main/java/com/acme/a/Api.java:
                public class Api {
                    public static int call();
                    static int internalCall();
                }
        "#]],
    );
}

#[test]
fn a_header_brings_the_includes_inside_its_include_guard() {
    let fields: String = (0..12).map(|i| format!("    int field{i};\n")).collect();
    check_with(
        &small(120, 40),
        &format!(
            "//- include/config.h\n#ifndef CONFIG_H\n#define CONFIG_H\n\n#include <stdint.h>\n#include \"types.h\"\n\nstruct config {{\n{fields}}};\n\nstatic inline uint32_t config_size(const struct config *c) {{\n    return sizeof(*c) + $0;\n}}\n\n#endif\n"
        ),
        expect![[r#"
            include/config.h (C++) line
            imports:
                #include <stdint.h>
                #include "types.h"
            code:
                    int field11;
                };

                static inline uint32_t config_size(const struct config *c) {
                    return sizeof(*c) + $0;
                }

                #endif
            line: "    return sizeof(*c) + " $0 ";"
        "#]],
    );
}

#[test]
fn names_this_file_defines_or_binds_are_not_looked_up() {
    // The index is stale: it still places `helper` and `Config` elsewhere, but this buffer now
    // defines them, right above the cursor; `parse` is a parameter here; `render` is this very
    // file's, per the index.
    check(
        r#"
//- src/old.rs
pub fn helper() -> u32 { 1 }
pub struct Config;
pub fn parse() {}
pub fn shared() -> u8 { 2 }
//- src/main.rs
pub fn render() {}
//- src/main.rs
struct Config;
fn helper() -> u32 { 2 }
fn render() {}
fn run(parse: u32) -> u32 {
    let c = Config;
    render();
    helper() + parse + shared() + $0
}
"#,
        expect![[r#"
            src/main.rs (Rust) line
            code:
                struct Config;
                fn helper() -> u32 { 2 }
                fn render() {}
                fn run(parse: u32) -> u32 {
                    let c = Config;
                    render();
                    helper() + parse + shared() + $0
                }
            line: "    helper() + parse + shared() + " $0 ""
            definition of shared in src/old.rs:
                pub fn shared() -> u8
        "#]],
    );
}

#[test]
fn definitions_come_from_files_of_the_same_language_family() {
    // A Python `insert` and a TypeScript `Store` are not what this Rust code calls; the Rust
    // definitions are. TypeScript and JavaScript import each other: a `.ts` file's definition
    // serves a `.js` cursor.
    check(
        r#"
//- web/store.ts
export class Store { insert(row: Row): void {} }
//- tools/db.py
def insert(row):
    pass
//- src/store.rs
pub struct Store;
impl Store { pub fn insert(&mut self, row: Row) {} }
//- src/main.rs
fn run(rows: Vec<Row>) {
    let mut store = Store;
    for row in rows {
        store.insert(row);
    }
    $0
}
"#,
        expect![[r#"
            src/main.rs (Rust) block
            code:
                fn run(rows: Vec<Row>) {
                    let mut store = Store;
                    for row in rows {
                        store.insert(row);
                    }
                    $0
                }
            line: "    " $0 ""
            definition of insert in src/store.rs:
                impl Store { pub fn insert(&mut self, row: Row); }
            definition of Store in src/store.rs:
                pub struct Store;
        "#]],
    );
    check(
        r#"
//- web/store.ts
export class Store { insert(row: Row): void {} }
//- src/store.rs
pub struct Store;
//- web/main.js
const store = new Store();
store.insert(row);
$0
"#,
        expect![[r#"
            web/main.js (JavaScript) block
            code:
                const store = new Store();
                store.insert(row);
                $0
            line: "" $0 ""
            definition of Store in web/store.ts:
                export class Store {
                    insert(row: Row): void;
                }
        "#]],
    );
}

#[test]
fn names_bound_to_whole_modules_are_not_looked_up() {
    // `vscode` and `path` are modules here; the workspace's variables of those names are other
    // things. `Server`, imported by name, is the workspace's own and is looked up.
    check(
        r#"
//- src/webview.ts
const vscode = acquireVsCodeApi();
export const path = "/";
//- src/server.ts
export class Server { start(): void {} }
//- src/main.ts
import * as vscode from "vscode";
import { Server } from "./server";
const path = require("path");
const server = new Server();
vscode.window.showInformationMessage(path.join("a", "b"));
$0
"#,
        expect![[r#"
            src/main.ts (TypeScript) block
            code:
                import * as vscode from "vscode";
                import { Server } from "./server";
                const path = require("path");
                const server = new Server();
                vscode.window.showInformationMessage(path.join("a", "b"));
                $0
            line: "" $0 ""
            definition of Server in src/server.ts:
                export class Server {
                    start(): void;
                }
        "#]],
    );
    // The same with the imports far above the window, as in a real file.
    let filler = "value = compute(1, 2, 3)  # a line of filler\n".repeat(300);
    let text = format!(
        "//- tools/env.py\nos = None\nnp = None\ndef load(): pass\n//- main.py\nimport os.path\nimport numpy as np\nfrom tools.env import load\n{filler}def run():\n    load(os.getcwd(), np.zeros(3))\n    $0\n"
    );
    let ctx = gather_fixture(&text, &Budget::default(), &[]);
    assert!(!ctx.prefix.contains("import"), "the imports are outside the window");
    assert_eq!(definitions(&text), ["load"]);
}

#[test]
fn a_name_qualified_by_a_type_means_that_types_member() {
    // Java: `Math` is not in the workspace, so its `max` is not either; `Arrays.copyOf` is.
    let found = definitions(
        "//- src/Collections.java\npublic class Collections {\n    public static int max(int[] xs) { return 0; }\n}\n//- src/Arrays.java\npublic class Arrays {\n    public static int[] copyOf(int[] a, int n) { return a; }\n}\n//- src/Main.java\nclass Main {\n    int[] grow(int[] data, int n) {\n        int size = Math.max(n, 10);\n        return Arrays.copyOf(data, size);\n        $0\n    }\n}\n",
    );
    assert_eq!(found, ["Arrays"]);
    // Rust: `Vec::new` is not the workspace's `Lexer::new`; `Parser::new` is `Parser`'s.
    let found = definitions(
        "//- src/lexer.rs\npub struct Lexer;\nimpl Lexer { pub fn new() -> Lexer { Lexer } }\n//- src/parser.rs\npub struct Parser;\nimpl Parser { pub fn new() -> Parser { Parser } }\n//- src/main.rs\nfn run() {\n    let mut out = Vec::new();\n    $0\n}\n",
    );
    assert!(found.is_empty(), "{found:?}");
    let found = definitions(
        "//- src/lexer.rs\npub struct Lexer;\nimpl Lexer { pub fn new() -> Lexer { Lexer } }\n//- src/parser.rs\npub struct Parser;\nimpl Parser { pub fn new() -> Parser { Parser } }\n//- src/main.rs\nfn run() {\n    let parser = crate::parser::Parser::new();\n    $0\n}\n",
    );
    assert_eq!(found, ["new", "Parser"]);
    // TypeScript and Python: a capitalised receiver is a class; a lower-case one a value, whose
    // type the context cannot know, so any `now` may be meant.
    let ts = |line: &str| {
        definitions(&format!(
            "//- src/clock.ts\nexport class Clock {{ now(): number {{ return 0; }} }}\n//- src/main.ts\nfunction run(clock) {{\n    const t = {line};\n    $0\n}}\n"
        ))
    };
    assert!(ts("Date.now()").is_empty());
    assert_eq!(ts("clock.now()"), ["now"]);
    let found = definitions(
        "//- store.py\nclass Store:\n    def open(self): pass\n//- main.py\ndef run():\n    f = Path.open('x')\n    $0\n",
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_field_never_called_is_not_a_function() {
    // Java's `data.length` is an array's field; Rust's `observer: None` and `self.size` are
    // fields; the functions of those names are something else. Called, they are the methods.
    let java = |line: &str| {
        definitions(&format!(
            "//- src/Text.java\npublic class Text {{\n    public int length() {{ return 0; }}\n}}\n//- src/Main.java\nclass Main {{\n    int run(int[] data) {{\n        int n = {line};\n        $0\n    }}\n}}\n"
        ))
    };
    assert!(java("data.length").is_empty());
    assert_eq!(java("text.length()"), ["length"]);
    let rust = |body: &str| {
        definitions(&format!(
            "//- src/usage.rs\npub fn observer() -> u8 {{ 0 }}\npub struct Stack;\nimpl Stack {{ pub fn size(&self) -> usize {{ 0 }} }}\n//- src/main.rs\nfn run(stack: &Pile) {{\n    {body}\n    $0\n}}\n"
        ))
    };
    let found = rust("let router = Router { observer: None, depth: stack.size };");
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(rust("let n = stack.size() + observer();"), ["observer", "size"]);
    // Go and C: a selector or a field that is never called.
    let found = definitions(
        "//- lib/count.go\npackage lib\nfunc Count() int { return 0 }\n//- main.go\npackage main\nfunc run(s Stats) int {\n\treturn s.Count\n\t$0\n}\n",
    );
    assert!(found.is_empty(), "{found:?}");
    let found = definitions(
        "//- src/io.h\nint read(int fd);\n//- src/main.c\nint run(struct dev *d) {\n    int n = d->read + 1;\n    $0\n}\n",
    );
    assert!(found.is_empty(), "{found:?}");
}

/// `symbol in path` for each definition the cross-file part brings, best first.
fn definitions_from(text: &str) -> Vec<String> {
    let ctx = gather_fixture(text, &Budget::default(), &[]);
    ctx.cross_file
        .iter()
        .map(|s| match &s.why {
            SnippetKind::Definition { symbol } => format!("{symbol} in {}", s.path),
            other => panic!("cross-file snippets are definitions, not {other:?}"),
        })
        .collect()
}

#[test]
fn a_member_reached_through_this_or_self_is_one_of_the_classs_own_or_inherited() {
    // `this.correlationId` is no other class's getter; `this.initialize` comes from the base of
    // the base, found through the workspace's class headers.
    let ts = "//- src/flow/FlowError.ts\nexport class FlowError { get correlationId(): string { return \"\"; } }\n\
//- src/BaseClient.ts\nexport abstract class BaseClient { protected initialize(request: Request): Ready { return {}; } }\n\
//- src/StandardClient.ts\nexport abstract class StandardClient extends BaseClient {}\n\
//- src/Other.ts\nexport class Other { initialize(): void {} }\n\
//- src/PopupClient.ts\nexport class PopupClient extends StandardClient {\n    logout(request: Request): void {\n        const ready = this.initialize(request);\n        log(this.correlationId);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(ts), ["StandardClient in src/StandardClient.ts", "initialize in src/BaseClient.ts"]);
    // A lower-case receiver may be anything: either class's `initialize` is a candidate there
    // (one is sent: see the next test), and so is the getter.
    let loose = ts.replace("this.initialize", "client.initialize");
    let found = definitions_from(&loose);
    assert!(found.iter().any(|f| f.starts_with("initialize in ")), "{found:?}");
    let loose = loose.replace("this.correlationId", "client.correlationId");
    let found = definitions_from(&loose);
    assert!(found.contains(&"correlationId in src/flow/FlowError.ts".to_string()), "{found:?}");
    // But called on one value with `correlationId`, which neither class of `initialize` has:
    // neither is what `client` is (see the tests of `agree_on_receivers`' rule below).
    assert!(!found.iter().any(|f| f.starts_with("initialize in ")), "{found:?}");
    // Python's `self.`: the base's method (shown in the base's summary, which the header's name
    // brings), not another class's, nor a module-level function; also on the blank line after
    // the method's last statement, which the tree puts outside the class.
    let py = "//- base.py\nclass Transport:\n    def close(self): pass\n//- other.py\nclass Server:\n    def close(self): pass\ndef flush(): pass\n\
//- pipe.py\nfrom base import Transport\nclass Pipe(Transport):\n    def stop(self):\n        self.flush()\n        self.close()\n        $0\n";
    assert_eq!(definitions_from(py), ["Transport in base.py"]);
    // Java, C# and C++: the same through their own spelling of `this`, with the method two
    // generations up (so that no class named near the cursor gives it away).
    let java = "//- src/Repo.java\npublic class Repo {\n    public void save(Item item) {}\n}\n//- src/Cache.java\npublic class Cache {\n    public void save(Item item) {}\n}\n\
//- src/Store.java\npublic class Store extends Repo {}\n//- src/Users.java\nclass Users extends Store {\n    void add(Item item) {\n        this.save(item);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(java), ["Store in src/Store.java", "save in src/Repo.java"]);
    let csharp = "//- Repo.cs\npublic class Repo {\n    public void Save(Item item) {}\n}\n//- Cache.cs\npublic class Cache {\n    public void Save(Item item) {}\n}\n\
//- Store.cs\npublic class Store : Repo {}\n//- Users.cs\nclass Users : Store {\n    void Add(Item item) {\n        this.Save(item);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(csharp), ["Store in Store.cs", "Save in Repo.cs"]);
    let cpp = "//- repo.h\nclass Repo {\npublic:\n    void save(int item);\n};\n//- cache.h\nclass Cache {\npublic:\n    void save(int item);\n};\n\
//- store.h\nclass Store : public Repo {};\n//- users.h\nclass Users : public Store {\n    void add(int item) {\n        this->save(item);\n        $0\n    }\n};\n";
    assert_eq!(definitions_from(cpp), ["Store in store.h", "save in repo.h"]);
    // A C++ method defined outside its class: the class its name is qualified with.
    let outside = "//- repo.h\nclass Repo {\npublic:\n    void save(int item);\n};\n//- cache.h\nclass Cache {\npublic:\n    void save(int item);\n};\n\
//- users.h\nclass Users : public Repo {\n    void add(int item);\n};\n//- users.cpp\nvoid Users::add(int item) {\n    this->save(item);\n    $0\n}\n";
    assert_eq!(definitions_from(outside), ["Users in users.h", "save in repo.h"]);
}

#[test]
fn a_method_of_several_unrelated_receivers_brings_one_signature_the_bases() {
    // `protocol.data_received(…)`: three classes define it, two of them on top of `Protocol`.
    let text =
        "//- asyncio/base_events.py\nclass _Fallback(protocols.Protocol):\n    def data_received(self, data): pass\n\
//- asyncio/protocols.py\nclass Protocol(BaseProtocol):\n    def data_received(self, data): pass\n\
//- asyncio/subprocess.py\nclass ReadPipe(WritePipe, protocols.Protocol):\n    def data_received(self, data): pass\n\
//- asyncio/selector_events.py\ndef read(protocol, data):\n    protocol.data_received(data)\n    $0\n";
    assert_eq!(definitions_from(text), ["data_received in asyncio/protocols.py"]);
}

#[test]
fn members_called_on_one_value_choose_the_class_that_has_them_all() {
    // `repo.find(id); repo.save(u)` with `repo`'s type unknown: only `UserRepository` has both,
    // though `OrderRepository`'s `save` comes first by its path.
    let ts = "//- src/orderRepository.ts\nexport class OrderRepository {\n    save(order: Order): void {}\n    cancel(id: string): void {}\n}\n\
//- src/userRepository.ts\nexport class UserRepository {\n    find(id: string): User | undefined { return undefined; }\n    save(user: User): void {}\n}\n\
//- src/service.ts\nexport function update(repo, id: string, u: User) {\n    const user = repo.find(id);\n    repo.save(u);\n    $0\n}\n";
    let shown = |text: &str| {
        let ctx = gather_fixture(text, &Budget::default(), &[]);
        ctx.cross_file.iter().map(|s| format!("{}:\n{}", s.path, indent(&s.text))).collect::<String>()
    };
    expect![[r#"
        src/userRepository.ts:
            export class UserRepository { save(user: User): void; }
        src/userRepository.ts:
            export class UserRepository { find(id: string): User | undefined; }
    "#]]
    .assert_eq(&shown(ts));
    let py = "//- order_repository.py\nclass OrderRepository:\n    def save(self, order):\n        pass\n\n    def cancel(self, id):\n        pass\n\
//- user_repository.py\nclass UserRepository:\n    def find(self, id):\n        pass\n\n    def save(self, user):\n        pass\n\
//- service.py\ndef update(repo, id, u):\n    user = repo.find(id)\n    repo.save(u)\n    $0\n";
    expect![[r#"
        user_repository.py:
            class UserRepository:
                def save(self, user): ...
        user_repository.py:
            class UserRepository:
                def find(self, id): ...
    "#]]
    .assert_eq(&shown(py));
    // Both classes have both members: which one `repo` is, nothing tells, and neither `save`
    // is shown; the member only one class has still is.
    let both = py.replace("    def cancel(self, id):", "    def find(self, id):");
    assert_eq!(definitions_from(&both), Vec::<String>::new());
    let tie = ts
        .replace("    cancel(id: string)", "    find(id: string)")
        .replace("repo.save(u);", "repo.save(u);\n    repo.cancel(id);");
    assert_eq!(definitions_from(&tie), Vec::<String>::new());
    // No class has them all: none of the candidates of `save`; `find` is still `UserRepository`'s.
    let none = py.replace("    $0", "    repo.cancel(id)\n    $0");
    assert_eq!(definitions_from(&none), ["cancel in order_repository.py", "find in user_repository.py"]);
    // A tie the value's name breaks: `order` reads like `OrderRepository`.
    let named = both.replace("repo.", "order.").replace("(repo,", "(order,");
    assert_eq!(definitions_from(&named), ["save in order_repository.py", "find in order_repository.py"]);
    // A member a base defines counts for its subclasses: `PgRepository` has `find` through
    // `UserRepository`, which `MemoryRepository` does not extend.
    let inherited = "//- repo.py\nclass UserRepository:\n    def find(self, id):\n        pass\n\
//- pg.py\nclass PgRepository(UserRepository):\n    def save(self, user):\n        pass\n\
//- memory.py\nclass MemoryRepository:\n    def save(self, user):\n        pass\n\
//- service.py\ndef update(repo, id, u):\n    user = repo.find(id)\n    repo.save(u)\n    $0\n";
    assert_eq!(definitions_from(inherited), ["save in pg.py", "find in repo.py"]);
}

#[test]
fn a_rust_use_item_imports_no_method() {
    // `use std::io::{self, Read}` and `use crate::client::{send, Conn}` name free items, types
    // and modules: `Pipe::Read` and `Conn::send` are methods, whatever their names.
    let text = "//- src/client.rs\npub struct Conn;\nimpl Conn {\n    pub fn send(&self, frame: Frame) -> bool { true }\n}\n\
//- src/pipe.rs\npub struct Pipe;\nimpl Pipe {\n    pub fn Read(&self) -> u8 { 0 }\n}\n\
//- src/lib.rs\nmod client;\nmod pipe;\nuse crate::client::{send, Conn};\nuse std::io::{self, Read};\n\nfn run() {\n    let x = 1;\n    $0\n}\n";
    assert_eq!(definitions_from(text), ["Conn in src/client.rs"]);
    // The free function is what the `use` imports.
    let free = text.replace("//- src/pipe.rs", "pub fn send(req: Request) -> Response { todo!() }\n//- src/pipe.rs");
    assert_eq!(definitions_from(&free), ["Conn in src/client.rs", "send in src/client.rs"]);
    // Called as a method near the cursor too, `send` may be the method again.
    let called = text.replace("    let x = 1;", "    conn.send(frame);");
    assert_eq!(definitions_from(&called), ["send in src/client.rs", "Conn in src/client.rs"]);
}

/// The code after the cursor ends with the definition the cursor is in and the next one's
/// header: the next definitions' documentation is no code to see.
#[test]
fn the_suffix_ends_at_the_next_definitions_header_without_its_documentation() {
    let rust = "pub struct Builder { headers: Vec<u8> }\n\nimpl Builder {\n    /// Sets the agent.\n    pub fn user_agent(mut self, value: u8) -> Builder {\n        match value {\n            0 => {}\n            _ => {$0}\n        };\n        self\n    }\n    /// Sets the default headers for every request.\n    ///\n    /// # Example\n    ///\n    /// ```rust\n    /// let b = Builder::new().default_headers(h);\n    /// ```\n    #[inline]\n    pub fn default_headers(\n        mut self,\n        headers: Vec<u8>,\n    ) -> Builder {\n        self.headers = headers;\n        self\n    }\n\n    /// Enables the cookie store.\n    pub fn cookie_store(self, enable: bool) -> Builder {\n        self\n    }\n}\n\n/// A client.\npub struct Client;\n";
    let suffix = |language: &str, text: &str| {
        let text = format!("//- {language}\n{text}");
        let ctx = gather_fixture(&text, &Budget::default(), &[]);
        // Each line behind a bar: the snapshot keeps its indentation exactly.
        format!("{}$0{}", ctx.line_prefix, ctx.suffix).lines().map(|l| format!("|{l}\n")).collect::<String>()
    };
    expect![[r#"
        |            _ => {$0}
        |        };
        |        self
        |    }
        |    pub fn default_headers(
    "#]]
    .assert_eq(&suffix("src/lib.rs", rust));
    // The impl's last method: its closer, then what follows the impl, past its documentation.
    let last = rust.replace("$0", "").replace("        self\n    }\n}\n", "        $0self\n    }\n}\n");
    expect![[r#"
        |        $0self
        |    }
        |}
        |
        |pub struct Client;
    "#]]
    .assert_eq(&suffix("src/lib.rs", &last));
    let py = "class Builder:\n    def user_agent(self, value):\n        if value:\n            $0\n        return self\n\n    # Sets the default headers for every request.\n    #\n    # Example: Builder().default_headers(h)\n    @property\n    def default_headers(self,\n                        headers):\n        \"\"\"Sets the default headers.\n\n        More words.\n        \"\"\"\n        self.headers = headers\n\n\ndef helper():\n    pass\n";
    expect![[r#"
        |            $0
        |        return self
        |
        |    def default_headers(self,
    "#]]
    .assert_eq(&suffix("builder.py", py));
}

/// Attributes, decorators and annotations belong to the item they precede, as its documentation
/// does: in every language the suffix leaves them out and keeps the next item's header.
#[test]
fn the_suffix_leaves_out_the_next_items_attributes_decorators_and_annotations() {
    let suffix = |path: &str, text: &str| {
        let ctx = gather_fixture(&format!("//- {path}\n{text}"), &Budget::default(), &[]);
        format!("{}$0{}", ctx.line_prefix, ctx.suffix).lines().map(|l| format!("|{l}\n")).collect::<String>()
    };
    let rust = "fn total(xs: &[u32]) -> u32 {\n    $0\n}\n\n#[derive(Debug, Clone)]\n#[non_exhaustive]\npub struct Total(u32);\n";
    expect![[r#"
        |    $0
        |}
        |
        |pub struct Total(u32);
    "#]]
    .assert_eq(&suffix("src/lib.rs", rust));
    let rust =
        "fn total(xs: &[u32]) -> u32 {\n    $0\n}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn sums() {}\n}\n";
    expect![[r#"
        |    $0
        |}
        |mod tests {
    "#]]
    .assert_eq(&suffix("src/lib.rs", rust));
    // A decorator with no comment before it is left out too; one on the header's line stays.
    let py = "def total(xs):\n    $0\n\n@functools.cache\n@trace(level=2)\ndef average(xs):\n    return 0\n";
    expect![[r#"
        |    $0
        |
        |def average(xs):
    "#]]
    .assert_eq(&suffix("stats.py", py));
    let java = "class Stats {\n    int total(int[] xs) {\n        $0\n    }\n\n    /** The mean. */\n    @Override\n    @Deprecated(since = \"2\")\n    public int average(int[] xs) {\n        return 0;\n    }\n}\n";
    expect![[r#"
        |        $0
        |    }
        |
        |    public int average(int[] xs) {
    "#]]
    .assert_eq(&suffix("Stats.java", java));
    let cs = "class Stats {\n    int Total(int[] xs) {\n        $0\n    }\n\n    /// <summary>The mean.</summary>\n    [Obsolete]\n    public int Average(int[] xs) {\n        return 0;\n    }\n}\n";
    expect![[r#"
        |        $0
        |    }
        |
        |    public int Average(int[] xs) {
    "#]]
    .assert_eq(&suffix("Stats.cs", cs));
    let ts = "class Stats {\n    total(xs: number[]): number {\n        $0\n    }\n\n    /** The mean. */\n    @memo()\n    average(xs: number[]): number {\n        return 0;\n    }\n}\n";
    expect![[r#"
        |        $0
        |    }
        |
        |    average(xs: number[]): number {
    "#]]
    .assert_eq(&suffix("stats.ts", ts));
    let ts = "function total(xs: number[]): number {\n    $0\n}\n\n@Component({ selector: \"app\" })\nexport class App {\n}\n";
    expect![[r#"
        |    $0
        |}
        |
        |export class App {
    "#]]
    .assert_eq(&suffix("app.ts", ts));
}

#[test]
fn a_c_typedef_of_a_struct_brings_the_structs_body() {
    let text = "//- include/heap.h\ntypedef struct heap_s heap_t;\nheap_t* heap_new(void);\n\
//- include/types.h\nstruct heap_s {\n  struct tld_s* tld;\n  unsigned char tag;\n  heap_t* next;\n};\n\
//- src/heap.c\n#include \"heap.h\"\nheap_t* by_tag(heap_t* heap, unsigned char tag) {\n  if (heap->tag == tag) return heap;\n  $0\n}\n";
    let ctx = gather_fixture(text, &Budget::default(), &[]);
    let shown: Vec<(&str, &str)> = ctx.cross_file.iter().map(|s| (s.path.as_str(), s.text.as_str())).collect();
    assert_eq!(
        shown,
        [
            ("include/heap.h", "typedef struct heap_s heap_t;"),
            ("include/types.h", "struct heap_s {\n  struct tld_s* tld;\n  unsigned char tag;\n  heap_t* next;\n}"),
        ]
    );
}

#[test]
fn a_c_header_speaks_for_its_sources_and_a_macro_comes_once() {
    // The header's prototype, not the source's definition besides; its aligned columns closed
    // up; one of the macro's per-platform definitions.
    let text = "//- include/os.h\nvoid*       os_alloc(size_t size,   int flags);\n\
//- src/os.c\n#include \"os.h\"\nvoid* os_alloc(size_t size, int flags) {\n  return 0;\n}\n\
//- include/config.h\n#ifdef WIN\n#define LIMIT (1 << 20)\n#else\n#define LIMIT (1 << 30)\n#endif\n\
//- src/main.c\n#include \"os.h\"\nvoid* grow(void) {\n  void* p = os_alloc(LIMIT, 0);\n  $0\n}\n";
    assert_eq!(definitions_from(text), ["os_alloc in include/os.h", "LIMIT in include/config.h"],);
    let ctx = gather_fixture(text, &Budget::default(), &[]);
    assert!(ctx.cross_file.iter().any(|s| s.text == "void* os_alloc(size_t size, int flags)"), "{:?}", ctx.cross_file);
}

#[test]
fn a_rust_path_qualifier_is_a_module_or_a_type_and_the_nearer_of_two_types_is_meant() {
    // `error::bad_scheme`: no method named `error`; `Entry::Vacant`: the enum `Entry`.
    let text = "//- src/error.rs\npub(crate) fn bad_scheme(url: Url) -> Error { todo!() }\n\
//- src/redirect.rs\npub struct Attempt;\nimpl Attempt { pub fn error(self) -> Action { todo!() } }\npub enum Entry { Vacant, Taken }\n\
//- src/async_impl/client.rs\nfn run(url: Url) {\n    let e = error::bad_scheme(url);\n    if let Entry::Vacant = slot {}\n    $0\n}\n";
    assert_eq!(definitions_from(text), ["Entry in src/redirect.rs", "bad_scheme in src/error.rs"]);
    // A module path means that module's items: `io::Error` is not the crate's `Error`, while
    // `crate::error::Kind` is the `Kind` of `src/error.rs`.
    let text = "//- src/error.rs\npub struct Error { inner: Box<Inner> }\npub enum Kind { Request, Redirect }\n\
//- src/connect.rs\nfn run() -> Result<(), std::io::Error> {\n    let kind = crate::error::Kind::Request;\n    $0\n}\n";
    assert_eq!(definitions_from(text), ["Kind in src/error.rs"]);
    // A module written inline (`mod imp { … }` in `lib.rs`) is a module too.
    let text = "//- src/lib.rs\npub mod sys {\n    pub mod imp {\n        pub fn spawn(task: Task) -> Handle { todo!() }\n    }\n}\n\
//- src/pool.rs\npub fn spawn(n: usize) {}\n\
//- src/runtime.rs\nfn run(task: Task) {\n    let handle = sys::imp::spawn(task);\n    $0\n}\n";
    assert_eq!(definitions_from(text), ["spawn in src/lib.rs"]);
    // Two `Body` types: the one beside the current file.
    let text = "//- src/async_impl/body.rs\npub struct Body { inner: Inner }\n\
//- src/blocking/body.rs\npub struct Body { kind: Kind }\n\
//- src/async_impl/client.rs\nfn run(body: Option<Body>) {\n    $0\n}\n";
    assert_eq!(definitions_from(text), ["Body in src/async_impl/body.rs"]);
}

#[test]
fn a_member_of_an_imported_module_is_that_modules() {
    // `vscode.window` is VS Code's, not the workspace's `window`; `S.User` is the `User` of
    // the `schema` file the alias stands for.
    let ts = "//- src/ui.ts\nexport const window = createWindow();\n//- src/schema.ts\nexport class User { name: string; }\n\
//- src/other.ts\nexport class User { id: number; }\n\
//- src/main.ts\nimport * as vscode from \"vscode\";\nimport * as S from \"./schema\";\nfunction run() {\n    const w = vscode.window;\n    const u: S.User = load();\n    $0\n}\n";
    assert_eq!(definitions_from(ts), ["User in src/schema.ts"]);
    // Python: numpy's `array`, and `h.clean` from the aliased module.
    let py = "//- util.py\ndef array(x): pass\ndef clean(x): pass\n//- app/helpers.py\ndef clean(x): pass\n\
//- main.py\nimport numpy as np\nimport app.helpers as h\ndef run(x):\n    y = np.array(x)\n    return h.clean(y)\n    $0\n";
    assert_eq!(definitions_from(py), ["clean in app/helpers.py"]);
    // Go: `fmt.Println` is the standard library's; `store.Open` is the `store` package's.
    let go = "//- log/print.go\npackage log\nfunc Println(v ...any) {}\nfunc Open() {}\n\
//- store/store.go\npackage store\nfunc Open() {}\n\
//- main.go\npackage main\nimport (\n\t\"fmt\"\n\t\"example.com/app/store\"\n)\nfunc run() {\n\tfmt.Println(1)\n\tstore.Open()\n\t$0\n}\n";
    assert_eq!(definitions_from(go), ["Open in store/store.go"]);
}

#[test]
fn a_capitalised_namespace_alias_is_still_a_module() {
    // `Events.emit` reads like a class's static member, but the import says `Events` is the
    // `events` file: the other file's free `emit` is not meant.
    let text = "//- src/events.ts\nexport function emit(name: string, payload: unknown): void {}\n\
//- src/bus.ts\nexport function emit(event: Event): void {}\n\
//- src/main.ts\nimport * as Events from \"./events\";\nfunction run() {\n    Events.emit(\"ready\", {});\n    $0\n}\n";
    assert_eq!(definitions_from(text), ["emit in src/events.ts"]);
}

#[test]
fn a_python_name_imported_from_a_package_is_a_module_where_the_workspace_has_one() {
    // `from app import helpers`: `helpers` is `app/helpers.py`, so `helpers.clean` is its `clean`.
    let text = "//- util.py\ndef clean(x, strict=False): pass\n//- app/helpers.py\ndef clean(x): pass\n\
//- main.py\nfrom app import helpers\ndef run(x):\n    return helpers.clean(x)\n    $0\n";
    assert_eq!(definitions_from(text), ["clean in app/helpers.py"]);
    // `from app import settings as conf`, with no `settings` module: a value whose `get` may be
    // any class's or module's.
    let text = "//- util.py\ndef clean(x): pass\n//- app/store.py\nclass Store:\n    def lookup(self, key): pass\n\
//- main.py\nfrom app import settings as conf\ndef run(x):\n    return conf.lookup(x)\n    $0\n";
    assert_eq!(definitions_from(text), ["lookup in app/store.py"]);
}

#[test]
fn a_static_member_reached_through_a_subclass_is_its_bases() {
    // `Admin.create()`: `Admin` defines no `create`; its base `User` does, and another class's
    // `create` is not meant.
    let java = "//- src/User.java\npublic class User {\n    public static User create(String name) { return null; }\n}\n\
//- src/Order.java\npublic class Order {\n    public static Order create(String id) { return null; }\n}\n\
//- src/Admin.java\npublic class Admin extends User {}\n\
//- src/Main.java\nclass Main {\n    void run() {\n        Admin a = (Admin) Admin.create(\"root\");\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(java), ["Admin in src/Admin.java", "create in src/User.java"]);
    let py = "//- models.py\nclass Model:\n    @classmethod\n    def from_row(cls, row): pass\nclass Admin(Model):\n    pass\n\
//- other.py\nclass Report:\n    @classmethod\n    def from_row(cls, row): pass\n\
//- main.py\nfrom models import Admin\ndef load(row):\n    return Admin.from_row(row)\n    $0\n";
    let found = definitions_from(py);
    assert!(found.iter().all(|f| !f.ends_with("other.py")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("Admin in models.py")), "{found:?}");
}

#[test]
fn rust_and_go_members_through_self_or_the_receiver_prefer_the_types_own() {
    // `self.bump()` deep in `impl Lexer`, whose header is out of sight: the `Lexer`'s, though
    // the parser's is in the same directory. Two unrelated types define it; one is sent.
    let rust = "//- src/lexer/cursor.rs\npub struct Lexer { pos: usize }\nimpl Lexer {\n    pub fn bump(&mut self) -> Option<char> { None }\n}\n\
//- src/syntax/parser.rs\npub struct Parser;\nimpl Parser {\n    pub fn bump(&mut self, kind: Kind) {}\n}\n\
//- src/syntax/lex.rs\nimpl Lexer {\n    fn first(&self) -> char {\n        '\\0'\n    }\n\n    fn second(&self) -> char {\n        '\\0'\n    }\n\n\
    fn next_token(&mut self) -> Token {\n        self.bump();\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(rust), ["bump in src/lexer/cursor.rs"]);
    // A method the type may have from any trait: none of the lineage's, so the others stay.
    let rust = rust
        .replace("self.bump()", "self.reset()")
        .replace("pub fn bump(&mut self, kind", "pub fn reset(&mut self, kind");
    assert_eq!(definitions_from(&rust), ["reset in src/syntax/parser.rs"]);
    // Go: `s.listen()` far down a method of `*Server` is the server's, not `Client`'s.
    let go = "//- net/server.go\npackage net\ntype Server struct{ addr string }\nfunc (s *Server) listen() error { return nil }\n\
//- net/client.go\npackage net\ntype Client struct{}\nfunc (c *Client) listen() error { return nil }\n\
//- net/serve.go\npackage net\nfunc (s *Server) Start() error {\nSTEPS\terr := s.listen()\n\t$0\n}\n"
        .replace("STEPS", &"\tstep()\n".repeat(45));
    let found = definitions_from(&go);
    assert!(found.contains(&"listen in net/server.go".to_string()), "{found:?}");
    assert!(!found.contains(&"listen in net/client.go".to_string()), "{found:?}");
}

/// `text` with `PAD` replaced by `lines` copies of `line`: a long function, whose parameters
/// are out of the identifier window's sight.
fn padded(text: &str, line: &str, lines: usize) -> String {
    text.replace("PAD", &line.repeat(lines))
}

#[test]
fn a_member_of_a_local_with_a_declared_type_is_that_types() {
    // `client.send()` far down a function taking `client: &Client`: `Client`'s `send`, though
    // the server's is in the same directory.
    let rust = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn send(&self, req: Request) -> Response { todo!() }\n}\n\
//- src/serve/server.rs\npub struct Server;\nimpl Server {\n    pub fn send(&mut self, frame: Frame) {}\n}\n\
//- src/serve/run.rs\nfn run(client: Arc<Client>) {\nPAD    let response = client.send(request);\n    $0\n}\n";
    assert_eq!(definitions_from(&padded(rust, "    step();\n", 45)), ["send in src/http/client.rs"]);
    // A method the type has from elsewhere (a trait): the others stay candidates.
    let from_trait = rust.replace("pub fn send(&self, req", "pub fn get(&self, req");
    assert_eq!(definitions_from(&padded(&from_trait, "    step();\n", 45)), ["send in src/serve/server.rs"]);
    // The same with TypeScript's, Java's, C#'s, Python's, Go's and C++'s parameters.
    let ts = "//- src/net/request.ts\nexport class Request { json(): Promise<unknown> { return null!; } }\n\
//- src/app/response.ts\nexport class Response { json(body: unknown): void {} }\n\
//- src/app/handler.ts\nexport function handle(req: Request): void {\nPAD    const body = req.json();\n    $0\n}\n";
    assert_eq!(definitions_from(&padded(ts, "    step();\n", 45)), ["json in src/net/request.ts"]);
    let java = "//- src/net/Repo.java\npublic class Repo {\n    public void save(Item item) {}\n}\n\
//- src/app/Cache.java\npublic class Cache {\n    public void save(Item item) {}\n}\n\
//- src/app/Users.java\nclass Users {\n    void add(Repo repo, Item item) {\nPAD        repo.save(item);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&padded(java, "        step();\n", 45)), ["save in src/net/Repo.java"]);
    // A member the type inherits: its base's.
    let inherited = java.replace("void add(Repo repo", "void add(AuditedRepo repo")
        + "//- src/net/AuditedRepo.java\npublic class AuditedRepo extends Repo {}\n";
    assert_eq!(definitions_from(&padded(&inherited, "        step();\n", 45)), ["save in src/net/Repo.java"]);
    let csharp = "//- Net/Repo.cs\npublic class Repo {\n    public void Save(Item item) {}\n}\n\
//- App/Cache.cs\npublic class Cache {\n    public void Save(Item item) {}\n}\n\
//- App/Users.cs\nclass Users {\n    void Add(Repo repo, Item item) {\nPAD        repo.Save(item);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&padded(csharp, "        Step();\n", 45)), ["Save in Net/Repo.cs"]);
    let py = "//- net/conn.py\nclass Connection:\n    def close(self, code=0): pass\n\
//- app/pool.py\nclass Pool:\n    def close(self): pass\n\
//- app/main.py\ndef handle(conn: Connection):\nPAD    conn.close()\n    $0\n    return conn\n";
    assert_eq!(definitions_from(&padded(py, "    step()\n", 45)), ["close in net/conn.py"]);
    let go =
        "//- net/client.go\npackage net\ntype Client struct{}\nfunc (c *Client) Do(r *Request) error { return nil }\n\
//- app/pool.go\npackage app\ntype Pool struct{}\nfunc (p *Pool) Do(f func()) {}\n\
//- app/run.go\npackage app\nfunc run(c *net.Client) {\nPAD\tc.Do(nil)\n\t$0\n}\n";
    assert_eq!(definitions_from(&padded(go, "\tstep()\n", 45)), ["Do in net/client.go"]);
    let cpp = "//- net/widget.h\nclass Widget {\npublic:\n    void resize(int w, int h);\n};\n\
//- app/panel.h\nclass Panel {\npublic:\n    void resize(int size);\n};\n\
//- app/layout.cpp\nvoid layout(Widget *w) {\nPAD    w->resize(1, 2);\n    $0\n}\n";
    assert_eq!(definitions_from(&padded(cpp, "    step();\n", 45)), ["resize in net/widget.h"]);
}

#[test]
fn a_python_blank_line_after_a_functions_last_statement_is_in_the_function() {
    // A new line at the end of a long function, the cursor on its indentation: the tree puts it
    // outside the function, but the parameter `request` is still a local, not the other
    // file's `request()`, and the function's header is still shown above the cut prefix.
    let template = "//- models.py\ndef request(url, method=\"GET\"): pass\n\
//- app.py\ndef handle(request, retries):\nPAD    $0\n\ndef other():\n    pass\n";
    let text = padded(template, "    last = request\n", 60);
    assert_eq!(definitions_from(&text), Vec::<String>::new());
    let ctx = gather_fixture(&text, &small(400, 100), &[]);
    assert_eq!(ctx.enclosing.as_deref(), Some("def handle(request, retries):"));
    // Where the indentation says the function has ended, it has.
    let text = padded(&template.replace("PAD    $0", "PAD$0"), "    last = request\n", 60);
    assert_eq!(definitions_from(&text), ["request in models.py"]);
}

/// The names [`nearby::collect`] finds in the whole of `code`, a file in `language`.
fn collected(language: Language, code: &str) -> nearby::Names {
    let extension = match language {
        Language::Rust => "rs",
        Language::TypeScript => "ts",
        Language::Java => "java",
        Language::CSharp => "cs",
        Language::Python => "py",
        Language::Go => "go",
        Language::Cpp => "cpp",
        Language::Ruby => "rb",
        Language::Php => "php",
        other => panic!("no extension for {other:?}"),
    };
    let doc = Document::new(&format!("file:///ws/x.{extension}"), "", 1, code);
    let snap = doc.snapshot();
    let root = snap.tree().expect("parsed").root_node();
    let spec = lang::spec(language).unwrap();
    nearby::collect(language, spec, window::Source::of_rope(snap.rope()), root, 0..code.len(), usize::MAX, 0)
}

/// `local: Type` for each local of `code` whose type its declaration says, sorted.
fn local_types(language: Language, code: &str) -> Vec<String> {
    let names = collected(language, code);
    let mut found: Vec<String> = names
        .bound
        .iter()
        .filter_map(|local| {
            let ty = names.local_types.get(&nearby::name_hash(local))?;
            Some(format!("{local}: {}", names.types[ty]))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_locals_type_is_the_one_written_or_the_one_its_value_constructs() {
    let check = |language: Language, code: &str, expected: &[&str]| {
        assert_eq!(local_types(language, code), expected, "{language:?}: {code}");
    };
    check(
        Language::Rust,
        "fn f(client: &mut Client, shared: Arc<Pool>, maybe: Option<Conn>) {\n    let server = Server::new();\n    let config = Config { port: 1 };\n    let builder = Client::builder();\n    let list = Vec::new();\n}\n",
        &["client: Client", "config: Config", "server: Server", "shared: Pool"],
    );
    check(
        Language::TypeScript,
        "function f(req: express.Request, count: number, user: User | undefined) {\n    const client = new HttpClient();\n    const store: Store = open();\n    const items = new Map();\n}\n",
        &["client: HttpClient", "req: Request", "store: Store", "user: User"],
    );
    check(
        Language::Java,
        "class A {\n    void f(Repo repo, int n) {\n        var client = new Client<String>();\n        List<Item> items = load();\n        Server server = Server.open();\n    }\n}\n",
        &["client: Client", "items: []Item", "repo: Repo", "server: Server"],
    );
    check(
        Language::CSharp,
        "class A {\n    void F(Repo repo) {\n        var client = new Client();\n        Server server = new();\n        var other = Make();\n    }\n}\n",
        &["client: Client", "repo: Repo", "server: Server"],
    );
    check(
        Language::Python,
        "def f(conn: Connection, n: int = 0, repo: Optional[Repo] = None, cache: Cache | None = None):\n    client = Client(n)\n    pool = db.Pool()\n    rows = fetch()\n",
        &["cache: Cache", "client: Client", "conn: Connection", "pool: Pool", "repo: Repo"],
    );
    check(
        Language::Go,
        "package p\nfunc f(cli *net.Client) {\n\tsrv, cfg := &Server{}, Config{}\n\tvar pool Pool\n\tdata := load()\n}\n",
        &["cfg: Config", "cli: Client", "pool: Pool", "srv: Server"],
    );
    check(
        Language::Cpp,
        "void f(Widget *widget, const Panel &panel, int n, std::unique_ptr<Store> store) {\n    auto other = make();\n}\n",
        &["panel: Panel", "store: Store", "widget: Widget"],
    );
}

#[test]
fn a_member_of_a_local_is_the_type_its_value_constructs() {
    // Two types built side by side, each with a `send`: `c.send()` is the `Client`'s. (In the
    // languages whose class summaries list their methods, both summaries come, as both types
    // are named nearby.)
    let rust = "//- src/client.rs\npub struct Client;\nimpl Client {\n    pub fn new() -> Client { Client }\n    pub fn send(&self, req: Request) {}\n}\n\
//- src/server.rs\npub struct Server;\nimpl Server {\n    pub fn new() -> Server { Server }\n    pub fn send(&self, frame: Frame) {}\n}\n\
//- src/main.rs\nfn main() {\n    let c = Client::new();\n    let s = Server::new();\n    c.send(request);\n    $0\n}\n";
    let found = definitions_from(rust);
    assert!(
        found.contains(&"send in src/client.rs".to_string()) && !found.contains(&"send in src/server.rs".to_string()),
        "{found:?}"
    );
    let py = "//- client.py\nclass Client:\n    def send(self, req): pass\n//- server.py\nclass Server:\n    def send(self, frame): pass\n\
//- main.py\ndef main():\n    c = Client()\n    s = Server()\n    c.send(request)\n    $0\n";
    let found = definitions_from(py);
    assert!(
        found.contains(&"send in client.py".to_string()) && !found.contains(&"send in server.py".to_string()),
        "{found:?}"
    );
    let go = "//- client.go\npackage main\ntype Client struct{}\nfunc (c *Client) Send(r Request) {}\n\
//- server.go\npackage main\ntype Server struct{}\nfunc (s *Server) Send(f Frame) {}\n\
//- main.go\npackage main\nfunc main() {\n\tc, s := &Client{}, Server{}\n\tc.Send(request)\n\t$0\n}\n";
    let found = definitions_from(go);
    assert!(
        found.contains(&"Send in client.go".to_string()) && !found.contains(&"Send in server.go".to_string()),
        "{found:?}"
    );
}

#[test]
fn a_member_of_a_value_named_after_a_type_is_that_types() {
    // `this.client.send()`: `HttpClient`'s `send`, not the nearer `Server`'s.
    let ts = "//- src/net/HttpClient.ts\nexport class HttpClient { send(request: Request): Promise<Response> { return null!; } }\n\
//- src/app/Server.ts\nexport class Server { send(frame: Frame): void {} }\n\
//- src/app/Api.ts\nexport class Api {\n    load(id: string) {\n        return this.client.send(get(id));\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(ts), ["send in src/net/HttpClient.ts"]);
    // Python's `self.session.get()`, Rust's `conn.execute()`.
    let py = "//- net/session.py\nclass Session:\n    def get(self, url, **kwargs): pass\n\
//- app/cache.py\nclass Cache:\n    def get(self, key): pass\n\
//- app/fetch.py\nclass Fetcher:\n    def fetch(self, url):\n        body = self.session.get(url)\n        $0\n        return body\n";
    assert_eq!(definitions_from(py), ["get in net/session.py"]);
    let rust = "//- src/db/connection.rs\npub struct Connection;\nimpl Connection {\n    pub fn execute(&self, sql: &str) -> Result<u64> { todo!() }\n}\n\
//- src/app/statement.rs\npub struct Statement;\nimpl Statement {\n    pub fn execute(&mut self) {}\n}\n\
//- src/app/run.rs\nfn run() {\n    let conn = pool.get();\n    conn.execute(\"select 1\");\n    $0\n}\n";
    assert_eq!(definitions_from(rust), ["execute in src/db/connection.rs"]);
    // The name ranks, it does not filter: of the types named like `protocol`, the base that
    // another (unlike-named) subclass builds on comes first.
    let py = "//- asyncio/protocols.py\nclass BaseProtocol:\n    def connection_made(self, transport): pass\n\
//- asyncio/base_events.py\nclass _SendfileFallbackProtocol(protocols.Protocol):\n    def connection_made(self, transport): pass\n\
//- asyncio/base_subprocess.py\nclass WriteSubprocessPipeProto(protocols.BaseProtocol):\n    def connection_made(self, transport): pass\n\
//- asyncio/proactor_events.py\nclass _ProactorBasePipeTransport:\n    def __init__(self, protocol):\n        self._loop.call_soon(self._protocol.connection_made, self)\n        $0\n";
    assert_eq!(definitions_from(py), ["connection_made in asyncio/protocols.py"]);
    // Values of different names say nothing: both types stay candidates.
    let mixed = rust.replace("    $0", "    stmt.execute();\n    $0");
    let found = definitions_from(&mixed);
    assert_eq!(found, ["execute in src/app/statement.rs"], "the nearer one alone, as for any ambiguous member");
}

#[test]
fn a_member_of_a_field_is_the_type_the_field_is_declared_with() {
    // `this.store.find()` with `private store: UserRepo`: `UserRepo`'s `find`, though the
    // value's name reads like `StoreCache`, which is in the same directory. The field is
    // declared far above, outside the names looked up.
    let pad = |text: &str| padded(text, "        step();\n", 45);
    let classes = "//- src/db/UserRepo.ts\nexport class UserRepo { find(id: string): User { return null!; } }\n\
//- src/app/StoreCache.ts\nexport class StoreCache { find(key: string): Entry { return null!; } }\n";
    let ts = format!(
        "{classes}//- src/app/Api.ts\nexport class Api {{\n    private store: UserRepo;\n    load(id: string) {{\nPAD        return this.store.find(id);\n        $0\n    }}\n}}\n"
    );
    assert_eq!(definitions_from(&pad(&ts)), ["find in src/db/UserRepo.ts"]);
    // A constructor's parameter property; JavaScript's `this.store = new UserRepo()`.
    let property =
        ts.replace("    private store: UserRepo;\n", "    constructor(private readonly store: UserRepo) {}\n");
    assert_eq!(definitions_from(&pad(&property)), ["find in src/db/UserRepo.ts"]);
    let js = "//- src/db/UserRepo.js\nexport class UserRepo { find(id) { return null; } }\n\
//- src/app/StoreCache.js\nexport class StoreCache { find(key) { return null; } }\n\
//- src/app/Api.js\nexport class Api {\n    constructor() {\n        this.store = new UserRepo();\n    }\n    load(id) {\nPAD        return this.store.find(id);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(js)), ["find in src/db/UserRepo.js"]);
    // A field the base class declares, in another file.
    let inherited = format!(
        "{classes}//- src/app/Base.ts\nexport class Base {{\n    protected store: UserRepo;\n}}\n\
//- src/app/Api.ts\nexport class Api extends Base {{\n    load(id: string) {{\nPAD        return this.store.find(id);\n        $0\n    }}\n}}\n"
    );
    assert_eq!(definitions_from(&pad(&inherited)), ["find in src/db/UserRepo.ts"]);
    // A field typed with an interface: the interface's method, not an implementation's.
    let interface = ts.replace(": UserRepo;", ": Users;")
        + "//- src/db/Users.ts\nexport interface Users {\n    find(id: string): User;\n    count(): number;\n}\n";
    assert_eq!(definitions_from(&pad(&interface)), ["find in src/db/Users.ts"]);
    // No type declared: the value's name still ranks.
    let untyped = ts.replace("    private store: UserRepo;\n", "    private store = open();\n");
    assert_eq!(definitions_from(&pad(&untyped)), ["find in src/app/StoreCache.ts"]);

    // Python: `self.store = store` in `__init__`, with `store: UserRepo`.
    let py = "//- db/user_repo.py\nclass UserRepo:\n    def find(self, id): pass\n\
//- app/store_cache.py\nclass StoreCache:\n    def find(self, key): pass\n\
//- app/api.py\nclass Api:\n    def __init__(self, store: UserRepo):\n        self.store = store\n\n    def load(self, id):\nPAD        entry = self.store.find(id)\n        $0\n        return entry\n";
    assert_eq!(definitions_from(&pad(py)), ["find in db/user_repo.py"]);
    // Rust: the struct's field, the struct in the same file as its `impl`.
    let rust = "//- src/db/repo.rs\npub struct UserRepo;\nimpl UserRepo {\n    pub fn find(&self, id: u64) -> User { todo!() }\n}\n\
//- src/app/cache.rs\npub struct StoreCache;\nimpl StoreCache {\n    pub fn find(&self, key: &str) -> Entry { todo!() }\n}\n\
//- src/app/api.rs\npub struct Api {\n    store: Arc<UserRepo>,\n}\nimpl Api {\n    fn load(&self, id: u64) {\nPAD        let user = self.store.find(id);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(rust)), ["find in src/db/repo.rs"]);
    // Go: the struct in another file of the package, the method's receiver.
    let go =
        "//- db/repo.go\npackage db\ntype UserRepo struct{}\nfunc (r *UserRepo) Find(id int) *User { return nil }\n\
//- app/cache.go\npackage app\ntype StoreCache struct{}\nfunc (c *StoreCache) Find(key string) *Entry { return nil }\n\
//- app/api.go\npackage app\ntype Api struct {\n\tstore *db.UserRepo\n}\n\
//- app/load.go\npackage app\nfunc (a *Api) Load(id int) {\nPAD\tuser := a.store.Find(id)\n\t$0\n}\n";
    assert_eq!(definitions_from(&pad(go)), ["Find in db/repo.go"]);
    // A field typed with an interface: the interface's method, not an implementation's.
    let interface = go.replace("store *db.UserRepo", "store db.Users")
        + "//- db/users.go\npackage db\ntype Users interface {\n\tFind(id int) *User\n\tio.Closer\n}\n";
    assert_eq!(definitions_from(&pad(&interface)), ["Find in db/users.go"]);
    let ctx = gather_fixture(&pad(&interface), &Budget::default(), &[]);
    assert_eq!(ctx.cross_file[0].text, "type Users interface { Find(id int) *User; }");
    // Java and C#: through `this.`, or with none.
    let java = "//- src/db/UserRepo.java\npublic class UserRepo {\n    public User find(long id) { return null; }\n}\n\
//- src/app/StoreCache.java\npublic class StoreCache {\n    public Entry find(String key) { return null; }\n}\n\
//- src/app/Api.java\nclass Api {\n    private final UserRepo store;\n    User load(long id) {\nPAD        User user = store.find(id);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(java)), ["find in src/db/UserRepo.java"]);
    let this = java.replace("= store.find", "= this.store.find");
    assert_eq!(definitions_from(&pad(&this)), ["find in src/db/UserRepo.java"]);
    // A local of the field's name is the local.
    let shadowed =
        java.replace("        User user = store", "        var store = openCache();\n        User user = store");
    assert_eq!(definitions_from(&pad(&shadowed)), ["find in src/app/StoreCache.java"]);
    let csharp = "//- Db/UserRepo.cs\npublic class UserRepo {\n    public User Find(long id) { return null; }\n}\n\
//- App/StoreCache.cs\npublic class StoreCache {\n    public Entry Find(string key) { return null; }\n}\n\
//- App/Api.cs\nclass Api {\n    private readonly UserRepo _store;\n    User Load(long id) {\nPAD        var user = _store.Find(id);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(csharp)), ["Find in Db/UserRepo.cs"]);
    // C++: a method defined in its class, and one defined outside it (`Api::load`).
    let cpp = "//- db/user_repo.h\nclass UserRepo {\npublic:\n    User *find(long id);\n};\n\
//- app/store_cache.h\nclass StoreCache {\npublic:\n    Entry *find(const char *key);\n};\n\
//- app/api.hpp\nclass Api {\n    UserRepo *store;\npublic:\n    User *load(long id) {\nPAD        User *user = store->find(id);\n        $0\n    }\n};\n";
    assert_eq!(definitions_from(&pad(cpp)), ["find in db/user_repo.h"]);
    let outside = "//- db/user_repo.h\nclass UserRepo {\npublic:\n    User *find(long id);\n};\n\
//- app/store_cache.h\nclass StoreCache {\npublic:\n    Entry *find(const char *key);\n};\n\
//- app/api.h\nclass Api {\n    UserRepo *store;\npublic:\n    User *load(long id);\n};\n\
//- app/api.cpp\nUser *Api::load(long id) {\nPAD    User *user = this->store->find(id);\n    $0\n}\n";
    assert_eq!(definitions_from(&pad(outside)), ["find in db/user_repo.h"]);
}

#[test]
fn a_local_declared_far_above_the_cursor_is_a_local() {
    // `let conn = Client::new();` fifty lines up a long function: `conn.send()` is `Client`'s,
    // though `Server`'s is in the same directory and `conn` reads like neither.
    let rust = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn send(&self, req: Request) -> Response { todo!() }\n}\n\
//- src/serve/server.rs\npub struct Server;\nimpl Server {\n    pub fn send(&mut self, frame: Frame) {}\n}\n\
//- src/serve/run.rs\nfn run() {\n    let conn = Client::new();\nPAD    let response = conn.send(request);\n    $0\n}\n";
    let pad = |text: &str| padded(text, "    step();\n", 45);
    assert_eq!(definitions_from(&pad(rust)), ["send in src/http/client.rs"]);
    // A local is never looked up as a free name: not `request()` for a local `request`, bound
    // by a statement, a loop or an arm above.
    let free = "//- src/net/request.rs\npub fn request(url: &str) -> Request { todo!() }\n";
    for binding in
        ["    let request = build();\n", "    for request in pending {\n", "    if let Some(request) = next() {\n"]
    {
        let close = if binding.ends_with("{\n") { "    }\n" } else { "" };
        let text =
            format!("{free}//- src/serve/run.rs\nfn run() {{\n{binding}PAD    handle(request);\n    $0\n{close}}}\n");
        assert_eq!(definitions_from(&pad(&text)), Vec::<String>::new(), "{binding}");
    }
    // A member is never the local of its name: `req.body()` beside a local `body`.
    let member = "//- src/net/request.rs\npub struct Request;\nimpl Request {\n    pub fn body(&self) -> Option<&Body> { None }\n}\n\
//- src/serve/run.rs\nfn run(req: &Request) {\nPAD    if let Some(body) = req.body() {\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(member)), ["body in src/net/request.rs"]);
    // An earlier branch's locals are out of scope in the next one.
    let branch = format!(
        "{free}//- src/serve/run.rs\nfn run(ready: bool) {{\n    if ready {{\n        let request = build();\nPAD    }} else {{\n        handle(request(\"/\"));\n        $0\n    }}\n}}\n"
    );
    assert_eq!(definitions_from(&pad(&branch)), ["request in src/net/request.rs"]);
    // TypeScript, Python, Java and Go.
    let ts = "//- src/db/UserRepo.ts\nexport class UserRepo { find(id: string): User { return null!; } }\n\
//- src/app/Cache.ts\nexport class Cache { find(key: string): Entry { return null!; } }\n\
//- src/app/load.ts\nexport function load(id: string) {\n    const store = new UserRepo();\nPAD    const user = store.find(id);\n    $0\n}\n";
    assert_eq!(definitions_from(&pad(ts)), ["find in src/db/UserRepo.ts"]);
    let py = "//- db/user_repo.py\nclass UserRepo:\n    def find(self, id): pass\n\
//- app/cache.py\nclass Cache:\n    def find(self, key): pass\n\
//- app/load.py\ndef load(id):\n    store = UserRepo()\nPAD    user = store.find(id)\n    $0\n    return user\n";
    assert_eq!(definitions_from(&pad(py)), ["find in db/user_repo.py"]);
    let java = "//- src/db/UserRepo.java\npublic class UserRepo {\n    public User find(long id) { return null; }\n}\n\
//- src/app/Cache.java\npublic class Cache {\n    public Entry find(String key) { return null; }\n}\n\
//- src/app/Load.java\nclass Load {\n    User load(long id) {\n        UserRepo store = open();\nPAD        User user = store.find(id);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(java)), ["find in src/db/UserRepo.java"]);
    let go =
        "//- db/repo.go\npackage db\ntype UserRepo struct{}\nfunc (r *UserRepo) Find(id int) *User { return nil }\n\
//- app/cache.go\npackage app\ntype Cache struct{}\nfunc (c *Cache) Find(key string) *Entry { return nil }\n\
//- app/load.go\npackage app\nfunc load(id int) {\n\tstore := &db.UserRepo{}\nPAD\tuser := store.Find(id)\n\t$0\n}\n";
    assert_eq!(definitions_from(&pad(go)), ["Find in db/repo.go"]);
}

#[test]
fn a_go_types_embedded_types_lend_it_their_members() {
    // `s.Handle()` in a method of `Server`, which embeds `*route.Router`: the router's
    // `Handle`, not the `Mux`'s in the same directory.
    let go =
        "//- app/route/router.go\npackage route\ntype Router struct{}\nfunc (r *Router) Handle(pattern string) {}\n\
//- app/mux.go\npackage app\ntype Mux struct{}\nfunc (m *Mux) Handle(pattern string, h Handler) {}\n\
//- app/server.go\npackage app\ntype Server struct {\n\t*route.Router\n\tname string\n}\n\
//- app/run.go\npackage app\nfunc (s *Server) Run() {\nPAD\ts.Handle(\"/\")\n\t$0\n}\n";
    let pad = |text: &str| padded(text, "\tstep()\n", 45);
    assert_eq!(definitions_from(&pad(go)), ["Handle in app/route/router.go"]);
    // The same through a typed parameter, and through an interface embedding another.
    let typed = go.replace("func (s *Server) Run() {", "func run(s *Server) {");
    assert_eq!(definitions_from(&pad(&typed)), ["Handle in app/route/router.go"]);
    let interface = "//- app/route/handler.go\npackage route\ntype Handler interface {\n\tHandle(pattern string)\n}\n\
//- app/mux.go\npackage app\ntype Mux struct{}\nfunc (m *Mux) Handle(pattern string, h Handler) {}\n\
//- app/server.go\npackage app\ntype Routes interface {\n\troute.Handler\n\tList() []string\n}\n\
//- app/run.go\npackage app\nfunc run(r Routes) {\nPAD\tr.Handle(\"/\")\n\t$0\n}\n";
    assert_eq!(definitions_from(&pad(interface)), ["Handle in app/route/handler.go"]);
}

#[test]
fn a_local_is_the_type_its_function_returns() {
    // `let conn = open_conn()?;` with `fn open_conn() -> Result<Client, Error>`: `conn.send()`
    // is `Client`'s, though `Server`'s is in the same directory.
    let types = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn send(&self, req: Request) -> Response { todo!() }\n}\n\
//- src/serve/server.rs\npub struct Server;\nimpl Server {\n    pub fn send(&mut self, frame: Frame) {}\n}\n";
    let rust = format!(
        "{types}//- src/http/open.rs\npub fn open_conn(url: &str) -> Result<Client, Error> {{ todo!() }}\n\
//- src/serve/run.rs\nfn run() -> Result<()> {{\n    let conn = open_conn(URL)?;\nPAD    let response = conn.send(request);\n    $0\n}}\n"
    );
    let pad = |text: &str| padded(text, "    step();\n", 45);
    assert_eq!(definitions_from(&pad(&rust)), ["send in src/http/client.rs"]);
    // Definitions that disagree on the type say nothing.
    let disagree = rust.clone() + "//- src/serve/open.rs\npub fn open_conn(port: u16) -> Server { todo!() }\n";
    assert_eq!(definitions_from(&pad(&disagree)), ["send in src/serve/server.rs"]);
    // A type's associated function: `Client::builder()` returns a `ClientBuilder`.
    let builder = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn builder() -> ClientBuilder { todo!() }\n}\n\
//- src/http/builder.rs\npub struct ClientBuilder;\nimpl ClientBuilder {\n    pub fn timeout(self, t: Duration) -> ClientBuilder { self }\n}\n\
//- src/serve/request.rs\npub struct RequestBuilder;\nimpl RequestBuilder {\n    pub fn timeout(self, t: Duration) -> Self { self }\n}\n\
//- src/serve/run.rs\nfn run() {\n    let b = Client::builder();\nPAD    let b = b.timeout(SECOND);\n    $0\n}\n";
    assert_eq!(definitions_from(&pad(builder)), ["timeout in src/http/builder.rs"]);
    // TypeScript's `await`, Python's annotation, Go's first result, Java's `var`.
    let ts = "//- src/db/UserRepo.ts\nexport class UserRepo { find(id: string): User { return null!; } }\n\
//- src/db/open.ts\nexport async function openRepo(): Promise<UserRepo> { return null!; }\n\
//- src/app/Cache.ts\nexport class Cache { find(key: string): Entry { return null!; } }\n\
//- src/app/load.ts\nexport async function load(id: string) {\n    const store = await openRepo();\nPAD    const user = store.find(id);\n    $0\n}\n";
    assert_eq!(definitions_from(&pad(ts)), ["find in src/db/UserRepo.ts"]);
    let py = "//- db/user_repo.py\nclass UserRepo:\n    def find(self, id): pass\n\ndef open_repo(url) -> \"UserRepo\":\n    pass\n\
//- app/cache.py\nclass Cache:\n    def find(self, key): pass\n\
//- app/load.py\ndef load(id):\n    store = open_repo(URL)\nPAD    user = store.find(id)\n    $0\n    return user\n";
    assert_eq!(definitions_from(&pad(py)), ["find in db/user_repo.py"]);
    let go = "//- db/repo.go\npackage db\ntype UserRepo struct{}\nfunc (r *UserRepo) Find(id int) *User { return nil }\nfunc Open(url string) (*UserRepo, error) { return nil, nil }\n\
//- app/cache.go\npackage app\ntype Cache struct{}\nfunc (c *Cache) Find(key string) *Entry { return nil }\n\
//- app/load.go\npackage app\nfunc load(id int) {\n\tstore, err := db.Open(URL)\nPAD\tuser := store.Find(id)\n\t$0\n}\n";
    assert_eq!(definitions_from(&padded(go, "\tstep()\n", 45)), ["Find in db/repo.go"]);
    let java = "//- src/db/UserRepo.java\npublic class UserRepo {\n    public User find(long id) { return null; }\n    public static UserRepo open(String url) { return null; }\n}\n\
//- src/app/Cache.java\npublic class Cache {\n    public Entry find(String key) { return null; }\n}\n\
//- src/app/Load.java\nclass Load {\n    User load(long id) {\n        var store = UserRepo.open(URL);\nPAD        User user = store.find(id);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&padded(java, "        step();\n", 45)), ["find in src/db/UserRepo.java"]);
}

#[test]
fn type_names_read_like_value_names() {
    for (container, word) in
        [("Client", "client"), ("HttpClient", "client"), ("Connection", "conn"), ("Session", "_session")]
    {
        assert!(nearby::named_after(container, word), "{container} {word}");
    }
    for (container, word) in [("Server", "client"), ("Db", "db"), ("Connection", "co"), ("Cache", "caches")] {
        assert!(!nearby::named_after(container, word), "{container} {word}");
    }
}

#[test]
fn test_files_serve_only_tests() {
    let text = |current: &str| {
        format!(
            "//- tests/support.rs\npub fn spawn_server() -> u32 {{ 1 }}\n//- src/net.rs\npub fn connect() -> u32 {{ 2 }}\n//- {current}\nfn run() -> u32 {{\n    spawn_server() + connect() + $0\n}}\n"
        )
    };
    let names = |current: &str| -> Vec<String> {
        let ctx = gather_fixture(&text(current), &Budget::default(), &[]);
        ctx.cross_file.iter().map(|s| s.path.clone()).collect()
    };
    assert_eq!(names("src/main.rs"), ["src/net.rs"]);
    let mut in_tests = names("tests/e2e.rs");
    in_tests.sort();
    assert_eq!(in_tests, ["src/net.rs", "tests/support.rs"]);
}

#[test]
fn test_paths_by_each_languages_conventions() {
    for path in [
        "tests/e2e/chat.rs",
        "/ws/pkg/server_test.go",
        "pkg/testdata/x.go",
        "test_api.py",
        "app/api_test.py",
        "conftest.py",
        "web/src/__tests__/a.tsx",
        "web/a.test.ts",
        "web/a.spec.js",
        "C:\\ws\\test\\a.js",
        "src/test/java/com/x/ParserTest.java",
        "app/ParserTest.java",
        "app/ParserIT.java",
        "MyApp.Tests/ParserTests.cs",
        "src/ParserTests.cs",
        "src/parser_unittest.cc",
        "src/parser_test.cpp",
        "Tests/AppTests/Helpers.swift",
        "App/ParserTests.swift",
    ] {
        assert!(is_test_path(path), "{path}");
    }
    for path in [
        "src/testing/mod.rs",
        "src/latest.rs",
        "contest.py",
        "web/attest.ts",
        "pkg/test.go",
        "tests",
        "src/main/java/Test.java",
        "src/Contest.cs",
        "src/attest.c",
        "Sources/App/Tests.swift",
        "Sources/App/Contest.swift",
    ] {
        assert!(!is_test_path(path), "{path}");
    }
}

#[test]
fn parameters_of_functions_that_start_above_the_window_are_locals() {
    // The constructor's `server` and the Rust function's `config` are parameters declared above
    // the identifier window (the closure's body and the 8 lines above the cursor); the
    // workspace's globals of those names are other things.
    let filler = "        this.log(\"a line of filler\");\n".repeat(30);
    let found = definitions(&format!(
        "//- src/globals.ts\nexport let server: number = 1;\nexport function log(): void {{}}\n//- src/view.ts\nclass View {{\n    constructor(private readonly server: Server, logger) {{\n{filler}        server.onChange((e) => {{\n            logger.log(e);\n            $0\n        }});\n    }}\n}}\n"
    ));
    assert_eq!(found, ["log"]);

    let filler = "    let step = next(step);\n".repeat(50);
    let found = definitions(&format!(
        "//- src/globals.rs\npub static config: u8 = 0;\npub fn next(x: u8) -> u8 {{ x }}\n//- src/main.rs\nfn run(config: Config) {{\n{filler}    items.iter().for_each(|item| {{\n        config.apply(item);\n        $0\n    }});\n}}\n"
    ));
    assert_eq!(found, ["next"]);

    // Java: a method's parameter, and a lambda's lone one, which is a bare identifier.
    let filler = "            step = Util.next(step);\n".repeat(50);
    let found = definitions(&format!(
        "//- src/Util.java\npublic class Util {{\n    public static int config() {{ return 0; }}\n    public static int item() {{ return 0; }}\n    public static int next(int x) {{ return x; }}\n}}\n//- src/Main.java\nclass Main {{\n    void run(Config config) {{\n        items.forEach(item -> {{\n{filler}            config.apply(item);\n            $0\n        }});\n    }}\n}}\n"
    ));
    // `next` is in `Util`'s summary, which is sent instead of a snippet of its own.
    assert_eq!(found, ["Util"]);
}

#[test]
fn definitions_the_language_keeps_from_this_file_are_left_out() {
    // Go: `parse` of another package is unexported; the same package's `validate` is shared.
    check(
        r#"
//- other/parse.go
package other
func parse(s string) int { return 0 }
//- app/check.go
package app
func validate(n int) bool { return n > 0 }
//- app/main.go
package app
func run(s string) bool {
	return validate(parse(s))$0
}
"#,
        expect![[r#"
            app/main.go (Go) line
            code:
                package app
                func run(s string) bool {
                	return validate(parse(s))$0
                }
            line: "\treturn validate(parse(s))" $0 ""
            definition of validate in app/check.go:
                func validate(n int) bool
        "#]],
    );
}

#[test]
fn python_names_with_a_leading_underscore_stay_in_their_package() {
    let from = |path: &str| {
        definitions(&format!(
            "//- lib/internal.py\ndef _helper(x):\n    return x\ndef public(x):\n    return x\n//- {path}\ndef run(v):\n    return public(_helper(v))\n    $0\n"
        ))
    };
    assert_eq!(from("lib/user.py"), ["_helper", "public"], "the same package uses its private helpers");
    assert_eq!(from("app/main.py"), ["public"], "another package does not");
}

#[test]
fn a_signature_shown_once_is_not_shown_again_from_another_file() {
    // The header's prototype and the source file's definition read the same.
    let text = "//- include/list.h\nint list_sum(const int *items, int n);\nvoid list_clear(void);\n//- src/list.c\nint list_sum(const int *items, int n) {\n    return n;\n}\n//- src/main.c\nint main(void) {\n    int total = list_sum(items, 3);\n    $0\n}\n";
    let ctx = gather_fixture(text, &Budget::default(), &[]);
    let sent: Vec<(&str, &str)> = ctx.cross_file.iter().map(|s| (s.path.as_str(), s.text.as_str())).collect();
    assert_eq!(sent, [("include/list.h", "int list_sum(const int *items, int n)")]);
}

#[test]
fn far_from_the_cursor_the_index_knows_what_this_file_defines() {
    let filler = "// filler\n".repeat(60);
    let f = fixture(&format!(
        "//- src/other.rs\npub fn shared() {{}}\npub fn mine() {{}}\n//- src/main.rs\nfn mine() {{}}\n{filler}fn run() {{\n    mine();\n    shared();\n    $0\n}}\n"
    ));
    let names =
        |ctx: &CompletionContext| -> Vec<String> { ctx.cross_file.iter().map(|s| format!("{:?}", s.why)).collect() };
    // As just opened, before the server indexes the document.
    f.index.remove_file(f.doc.uri());
    let ctx = gather(&f.doc.snapshot(), f.cursor, &f.index, &[], &Budget::default());
    // Not indexed yet, the file's own `mine` (60 lines up) is taken for the other file's.
    assert_eq!(names(&ctx).len(), 2);
    f.index.update_document(&f.doc.snapshot());
    let ctx = gather(&f.doc.snapshot(), f.cursor, &f.index, &[], &Budget::default());
    assert_eq!(names(&ctx), [r#"Definition { symbol: "shared" }"#]);
}

#[test]
fn the_name_being_typed_is_not_looked_up() {
    check(
        r#"
//- src/lib.rs
pub fn parse_all() {}
pub fn parse() {}
//- src/main.rs
fn main() {
    parse$0
}
"#,
        expect![[r#"
            src/main.rs (Rust) line
            code:
                fn main() {
                    parse$0
                }
            line: "    parse" $0 ""
        "#]],
    );
}

#[test]
fn the_cursor_calls_for_a_block_or_for_the_rest_of_its_line() {
    let cases = [
        ("rust: blank line in a block", "a.rs", "fn f() {\n    let x = 1;\n    $0\n}\n"),
        ("rust: after an opening brace", "a.rs", "fn f() {$0\n"),
        ("rust: between auto-closed braces", "a.rs", "fn f() {$0}\n"),
        ("rust: auto-closed brace and paren", "a.rs", "fn f() { g(|| {$0}); }\n"),
        ("rust: mid-line", "a.rs", "fn f() { let x = fo$0o; }\n"),
        ("rust: code after the cursor", "a.rs", "fn f() {\n    $0let x = 1;\n}\n"),
        ("rust: end of a statement", "a.rs", "fn f() {\n    let x = 1;$0\n}\n"),
        ("rust: blank line in arguments", "a.rs", "fn f() {\n    g(\n        a,\n        $0\n    );\n}\n"),
        ("rust: blank line in a string", "a.rs", "fn f() {\n    let s = \"\n$0\n\";\n}\n"),
        ("rust: brace in a string", "a.rs", "fn f() {\n    let s = \"{$0\n\";\n}\n"),
        ("rust: brace in a comment", "a.rs", "fn f() {\n    // {$0\n}\n"),
        ("rust: top level", "a.rs", "fn f() {}\n\n$0\n"),
        ("rust: impl body", "a.rs", "impl S {\n    $0\n}\n"),
        ("python: after def", "a.py", "def f(x):$0\n"),
        ("python: after if", "a.py", "def f(x):\n    if x:$0\n"),
        ("python: after else", "a.py", "if x:\n    pass\nelse:$0\n"),
        ("python: dict colon", "a.py", "d = {\"a\":$0\n"),
        ("python: lambda colon", "a.py", "f = lambda x:$0\n"),
        ("python: slice colon", "a.py", "y = x[1:$0\n"),
        ("python: blank line in a body", "a.py", "def f(x):\n    y = x\n    $0\n"),
        ("python: blank line in a docstring", "a.py", "def f(x):\n    \"\"\"Doc\n    $0\n    \"\"\"\n"),
        ("ts: after an arrow's brace", "a.ts", "const f = (x: number) => {$0\n"),
        ("ts: blank line in a class", "a.ts", "class A {\n  $0\n}\n"),
        ("ts: mid-line", "a.ts", "const x = fo$0;\n"),
        ("ts: blank line in a template string", "a.ts", "const t = `\n$0\n`;\n"),
        ("go: after a func's brace", "a.go", "package p\n\nfunc f() {$0\n"),
        ("go: blank line in a block", "a.go", "package p\n\nfunc f() {\n\tx := 1\n\t$0\n}\n"),
        ("java: after a method's brace", "A.java", "class A {\n    void f() {$0\n}\n"),
        ("java: blank line in a class", "A.java", "class A {\n    $0\n}\n"),
        ("java: mid-line", "A.java", "class A {\n    int x = fo$0;\n}\n"),
        ("java: blank line in a text block", "A.java", "class A {\n    String s = \"\"\"\n$0\n        \"\"\";\n}\n"),
        ("c#: after a method's brace", "A.cs", "class A\n{\n    void F()\n    {$0\n}\n"),
        ("c#: blank line in a namespace", "A.cs", "namespace N\n{\n    $0\n}\n"),
        ("c#: blank line in a verbatim string", "A.cs", "class A\n{\n    string s = @\"\n$0\n\";\n}\n"),
        ("swift: blank line in an empty function", "a.swift", "func f() {\n    $0\n}\n"),
        ("swift: blank line in an empty if", "a.swift", "func f() {\n    if ok {\n        $0\n    }\n}\n"),
        ("swift: blank line in an empty closure", "a.swift", "let f = {\n    $0\n}\n"),
        ("swift: blank line in a struct", "a.swift", "struct A {\n    $0\n}\n"),
        ("swift: blank line in arguments", "a.swift", "f(a,\n  $0\n  b)\n"),
        ("swift: blank line in a multi-line string", "a.swift", "let s = \"\"\"\n$0\n\"\"\"\n"),
        ("text: blank line", "a.txt", "hello\n$0\n"),
    ];
    let mut out = String::new();
    for (name, path, text) in cases {
        let ctx = gather_fixture(&format!("//- {path}\n{text}"), &Budget::default(), &[]);
        let mode = if ctx.multiline { "block" } else { "line" };
        writeln!(out, "{name}: {mode}").unwrap();
    }
    expect![[r#"
        rust: blank line in a block: block
        rust: after an opening brace: block
        rust: between auto-closed braces: block
        rust: auto-closed brace and paren: block
        rust: mid-line: line
        rust: code after the cursor: line
        rust: end of a statement: line
        rust: blank line in arguments: line
        rust: blank line in a string: line
        rust: brace in a string: line
        rust: brace in a comment: line
        rust: top level: block
        rust: impl body: block
        python: after def: block
        python: after if: block
        python: after else: block
        python: dict colon: line
        python: lambda colon: line
        python: slice colon: line
        python: blank line in a body: block
        python: blank line in a docstring: line
        ts: after an arrow's brace: block
        ts: blank line in a class: block
        ts: mid-line: line
        ts: blank line in a template string: line
        go: after a func's brace: block
        go: blank line in a block: block
        java: after a method's brace: block
        java: blank line in a class: block
        java: mid-line: line
        java: blank line in a text block: line
        c#: after a method's brace: block
        c#: blank line in a namespace: block
        c#: blank line in a verbatim string: line
        swift: blank line in an empty function: block
        swift: blank line in an empty if: block
        swift: blank line in an empty closure: block
        swift: blank line in a struct: block
        swift: blank line in arguments: line
        swift: blank line in a multi-line string: line
        text: blank line: line
    "#]]
    .assert_eq(&out);
}

/// Every budget, from one char to the whole file: the text shown never starts or ends inside
/// a string or a comment, and starts at a statement whenever one lies in reach.
#[test]
fn cuts_never_split_strings_or_comments() {
    let text = "fn a() {}\n\nconst DOC: &str = \"\nline one\nline two\n\";\n\n/* block\ncomment */\nfn b() {\n    let v = call(\n        first,\n        second,\n    );\n    $0\n    let w = call(\n        third,\n        fourth,\n    );\n    /* tail\n    comment */\n}\n\nconst END: &str = \"\nend one\n\";\n";
    let f = fixture(text);
    let snap = f.doc.snapshot();
    // Lines inside a string or comment, and lines after which one is open.
    let starts_inside = ["line one", "line two", "\";", "comment */", "    comment */", "end one"];
    let opens =
        ["const DOC: &str = \"", "line one", "line two", "/* block", "    /* tail", "const END: &str = \"", "end one"];
    for budget in 1..=text.len() {
        let ctx = gather(&snap, f.cursor, &NoSymbols, &[], &small(budget, budget));
        let first = ctx.prefix.lines().next().unwrap_or_default();
        assert!(!starts_inside.contains(&first), "budget {budget}: prefix starts with {first:?}");
        let last = ctx.suffix.lines().last().unwrap_or_default();
        assert!(!opens.contains(&last), "budget {budget}: suffix ends with {last:?}");
        assert!(ctx.prefix.ends_with(&ctx.line_prefix) && ctx.suffix.starts_with(&ctx.line_suffix));
        if budget >= "    let v = call(\n        first,\n        second,\n    );\n    ".len() + 8 {
            assert!(
                !first.starts_with("        ") && !first.starts_with("    );"),
                "budget {budget}: prefix starts mid-statement with {first:?}"
            );
        }
    }
}

#[test]
fn a_prefix_cut_inside_a_long_expression_keeps_what_fits_on_whole_lines() {
    let items: String = (0..40).map(|i| format!("    \"item{i}\",\n")).collect();
    let text = format!("const ITEMS: &[&str] = &[\n{items}    \"$0\n];\n");
    check_with(
        &small(60, 20),
        &text,
        expect![[r#"
            src/main.rs (Rust) line
            code:
                    "item37",
                    "item38",
                    "item39",
                    "$0
                ];
            line: "    \"" $0 ""
        "#]],
    );
}

#[test]
fn plain_text_is_cut_by_lines_and_has_no_code_context() {
    check_with(
        &small(30, 12),
        "//- notes/todo.txt\nfirst line of notes\nsecond line here\nthird $0line\nfourth line\nfifth line\n",
        expect![[r#"
            notes/todo.txt (plain text) line
            code:
                second line here
                third $0line
            line: "third " $0 "line"
        "#]],
    );
}

#[test]
fn a_line_longer_than_the_budget_is_cut_at_a_space() {
    let long: String = (0..200).map(|i| format!("w{i} ")).collect();
    let ctx = gather_fixture(&format!("//- min.js\nvar a = \"{long}$0 {long}\";\n"), &small(100, 50), &[]);
    assert!(ctx.prefix.chars().count() <= 100, "{}", ctx.prefix.len());
    assert!(ctx.suffix.chars().count() <= 50, "{}", ctx.suffix.len());
    // Whole words: the prefix starts after a space, the suffix ends before one.
    assert!(ctx.prefix.starts_with('w'), "{:?}", ctx.prefix);
    assert!(ctx.suffix.ends_with(|c: char| c.is_ascii_digit()), "{:?}", ctx.suffix);
    assert_eq!(ctx.line_prefix, ctx.prefix);
    assert_eq!(ctx.line_suffix, ctx.suffix);
}

#[test]
fn the_cursor_is_clamped_into_the_document_and_out_of_a_line_break() {
    let doc = Document::new("file:///ws/a.rs", "rust", 1, "fn a() {}\r\nfn b() {}\r\n");
    let snap = doc.snapshot();
    // Between the \r and the \n of the first line: the end of that line's text.
    let ctx = gather(&snap, 10, &NoSymbols, &[], &Budget::default());
    assert_eq!((ctx.prefix.as_str(), ctx.line_suffix.as_str()), ("fn a() {}", ""));
    assert_eq!(ctx.suffix, "\r\nfn b() {}\r\n");
    let ctx = gather(&snap, 10_000, &NoSymbols, &[], &Budget::default());
    assert_eq!(ctx.prefix, "fn a() {}\r\nfn b() {}\r\n");
    assert_eq!((ctx.suffix.as_str(), ctx.line_prefix.as_str()), ("", ""));
    let empty = Document::new("file:///ws/e.py", "python", 1, "");
    let ctx = gather(&empty.snapshot(), 3, &NoSymbols, &[], &Budget::default());
    assert_eq!((ctx.prefix.as_str(), ctx.suffix.as_str()), ("", ""));
    assert!(ctx.multiline);
}

#[test]
fn code_without_a_grammar_asks_for_a_block_where_an_indented_body_starts() {
    let mode = |path: &str, text: &str| {
        let ctx = gather_fixture(&format!("//- {path}\n{text}"), &Budget::default(), &[]);
        format!("{} {}", ctx.language_name, if ctx.multiline { "block" } else { "line" })
    };
    // The body an editor indents after a header.
    assert_eq!(mode("lib/user.ex", "def full_name do\n  $0\nend\n"), "Elixir block");
    assert_eq!(mode("bin/main.dart", "void main() {$0}\n"), "Dart block");
    assert_eq!(mode("run.sh", "for f in *.log; do\n    $0\n"), "Shell script block");
    // Among statements at one indentation, one line at a time; never mid-line.
    assert_eq!(mode("lib/user.ex", "def full_name do\n  a = 1\n\n  $0\nend\n"), "Elixir line");
    assert_eq!(mode("lib/user.ex", "def full_name do\n  a = $0\nend\n"), "Elixir line");
    // Prose is never a block.
    assert_eq!(mode("README.md", "# Title\n\n  $0\n"), "Markdown line");
}

#[test]
fn code_without_a_grammar_shows_the_imports_above_the_window() {
    let filler: String = (0..1000).map(|i| format!("  total += {i}\n")).collect();
    let perl = format!("# Report\nuse strict;\nuse JSON::PP;\n\nsub sum {{\n{filler}    $0\n}}\n");
    let ctx = gather_fixture(&format!("//- lib/report.pl\n{perl}"), &Budget::default(), &[]);
    assert_eq!(ctx.imports, "use strict;\nuse JSON::PP;");
    assert!(!ctx.prefix.contains("use "), "the window starts below them");
    let user = user_message(&ctx);
    assert!(user.contains("<imports>\nuse strict;"), "{user}");
    // Lua's and Zig's bound requires, Elixir's aliases inside the module, a Dockerfile's base.
    let check = |path: &str, head: &str| {
        let text = format!("{head}{filler}$0\n");
        gather_fixture(&format!("//- {path}\n{text}"), &Budget::default(), &[]).imports
    };
    assert_eq!(check("init.lua", "local json = require(\"cjson\")\nlocal M = {}\n"), "local json = require(\"cjson\")");
    assert_eq!(check("main.zig", "const std = @import(\"std\");\nconst x = 1;\n"), "const std = @import(\"std\");");
    assert_eq!(
        check("lib/app.ex", "defmodule App do\n  alias App.Repo\n  import Ecto.Query\n"),
        "alias App.Repo\nimport Ecto.Query"
    );
    assert_eq!(check("Dockerfile", "FROM rust:1.80 AS build\nRUN cargo build\n"), "FROM rust:1.80 AS build");
    // A query's clauses are not imports; nor is prose.
    assert_eq!(check("q.sql", "select name\nfrom users\nuse app;\n"), "");
    assert_eq!(check("notes.md", "import this\n"), "");
}

#[test]
fn reaching_into_a_typed_value_brings_its_type_whatever_member_comes() {
    // Nothing of the type is used near the cursor, and its name is written only far above:
    // the member is what the model is to write.
    let filler = |indent: &str| -> String { (0..80).map(|i| format!("{indent}step({i});\n")).collect() };
    let ts = "//- src/todoClient.ts\nexport class TodoClient {\n  list(): string[] { return []; }\n  update(id: string) {}\n  remove(id: string) {}\n}\n";
    let names = definitions(&format!(
        "{ts}//- src/service.ts\nimport {{ TodoClient }} from './todoClient';\nexport class TodoService {{\n  constructor(private client: TodoClient) {{}}\n  clear(id: string) {{\n{}    this.client.$0\n  }}\n}}\n",
        filler("    ")
    ));
    assert_eq!(names, ["TodoClient"]);
    let names = definitions(&format!(
        "{ts}//- src/use.ts\nfunction clear(client: TodoClient) {{\n{}  client.rem$0\n}}\n",
        filler("  ")
    ));
    assert_eq!(names, ["TodoClient"]);
    let rust = "//- src/client.rs\npub struct Client {\n    base: String,\n}\nimpl Client {\n    pub fn get(&self) {}\n    pub fn post(&self) {}\n}\n";
    let names = definitions(&format!(
        "{rust}//- src/api.rs\nfn call(client: &Client) {{\n{}    client.$0\n}}\n",
        filler("    ")
    ));
    assert_eq!(names, ["Client"]);
    let py = "//- app/repo.py\nclass UserRepository:\n    def find_by_id(self, id):\n        pass\n\n    def save(self, user):\n        pass\n";
    let names = definitions(&format!(
        "{py}//- app/service.py\nfrom app.repo import UserRepository\n\nclass UserService:\n    def __init__(self, users: UserRepository):\n        self.users = users\n\n    def register(self, user):\n{}        existing = self.users.$0\n",
        filler("        ")
    ));
    assert_eq!(names, ["UserRepository"]);
    let go = "//- store/products.go\npackage store\n\ntype ProductStore struct{}\n\nfunc (s *ProductStore) UpdateStock(id int) error { return nil }\nfunc (s *ProductStore) List() []int { return nil }\n";
    let names = definitions(&format!(
        "{go}//- handlers/products.go\npackage handlers\n\nimport \"app/store\"\n\ntype Handler struct {{\n\tstore *store.ProductStore\n}}\n\nfunc (h *Handler) Restock(id int) {{\n{}\th.store.$0\n}}\n",
        filler("\t")
    ));
    assert!(names.contains(&"ProductStore".to_string()), "{names:?}");
    // A longer chain, a call's value or the object itself say nothing here.
    for cursor in ["client.a.b.$0", "make().$0", "self.$0", "client.base.$0"] {
        let names = definitions(&format!(
            "{rust}//- src/api.rs\nfn call(client: &Client) {{\n{}    {cursor}\n}}\n",
            filler("    ")
        ));
        assert!(!names.contains(&"Client".to_string()), "{cursor}: {names:?}");
    }
}

#[test]
fn a_block_among_definitions_is_one_definition() {
    let between = |fixture: &str| {
        let ctx = gather_fixture(fixture, &Budget::default(), &[]);
        assert!(ctx.multiline, "{fixture}");
        (ctx.between_items, user_message(&ctx).contains("up to the end of one definition"))
    };
    // Between methods, among a file's items, in a class's body.
    assert_eq!(between("impl A {\n    fn a(&self) {}\n\n    $0\n}\n"), (true, true));
    assert_eq!(between("//- src/app.ts\nclass A {\n  a() {}\n\n  $0\n}\n"), (true, true));
    assert_eq!(
        between("//- app/a.py\nimport os\n\nclass A:\n    def a(self):\n        pass\n\n    $0\n"),
        (true, true)
    );
    assert_eq!(between("//- app/a.py\nimport os\n\n$0\n"), (true, true));
    assert_eq!(between("use std::io;\n\n$0\n"), (true, true));
    // Statements in a function's body: the rest of the block.
    assert_eq!(between("fn a() {\n    let x = 1;\n    $0\n}\n"), (false, false));
    assert_eq!(between("//- app/a.py\ndef a():\n    x = 1\n    $0\n"), (false, false));
}

#[test]
fn the_receiver_of_a_member_access_is_read_from_the_line() {
    use super::member_receiver;
    assert_eq!(member_receiver("    existing = self.users."), Some("self.users"));
    assert_eq!(member_receiver("  this.client.upd"), Some("this.client"));
    assert_eq!(member_receiver("\tp := h.store."), Some("h.store"));
    assert_eq!(member_receiver("    repo?."), Some("repo"));
    assert_eq!(member_receiver("    node->"), Some("node"));
    assert_eq!(member_receiver("    a.b.c."), None);
    assert_eq!(member_receiver("    make()."), None);
    assert_eq!(member_receiver("    items[0]."), None);
    assert_eq!(member_receiver("    x = 1.5"), None);
    assert_eq!(member_receiver("    range(0..n"), None);
    assert_eq!(member_receiver("    let x = "), None);
}

#[test]
fn declared_fields_and_attributes_bring_no_other_types_members() {
    // A field declared in this file, and the words of an attribute, are no uses of the
    // workspace's methods of the same names.
    let other = "//- src/proxy.rs\npub struct Proxy;\nimpl Proxy {\n    pub fn timeout(&self) -> u64 { 0 }\n    pub fn all(&self) -> bool { true }\n}\n";
    let names = definitions(&format!(
        "{other}//- src/conn.rs\n#[cfg(all(unix, feature = \"tls\"))]\npub struct Conn {{\n    pub timeout: u64,\n}}\n\nimpl Conn {{\n    pub fn new() -> Self {{\n        $0\n    }}\n}}\n"
    ));
    assert!(names.is_empty(), "{names:?}");
    let ts =
        "//- src/client.ts\nexport class TodoClient {\n  list(): string[] { return []; }\n  remove(id: string) {}\n}\n";
    let names = definitions(&format!(
        "{ts}//- src/cart.ts\ninterface Cart {{\n  list: string[];\n  remove: boolean;\n  $0\n}}\n"
    ));
    assert!(names.is_empty(), "{names:?}");
    // Used, they are looked up.
    let names =
        definitions(&format!("{other}//- src/main.rs\nfn f(p: &Proxy) {{\n    let t = p.timeout();\n    $0\n}}\n"));
    assert_eq!(names, ["Proxy", "timeout"]);
}

#[test]
fn code_without_a_grammar_shows_imports_written_over_several_lines_whole() {
    let filler: String = (0..1000).map(|i| format!("  total += {i}\n")).collect();
    let check = |path: &str, head: &str| {
        let text = format!("{head}{filler}$0\n");
        gather_fixture(&format!("//- {path}\n{text}"), &Budget::default(), &[]).imports
    };
    // An open bracket: Elixir's alias of several modules inside its module, Haskell's import list.
    assert_eq!(
        check("lib/app.ex", "defmodule App do\n  alias App.{\n    Repo,\n    User\n  }\n  def f do\n"),
        "alias App.{\n  Repo,\n  User\n}"
    );
    assert_eq!(
        check("Main.hs", "module Main where\nimport Data.Map (Map,\n                 fromList) -- (sic\nimport qualified Data.Set as Set\nmain = do\n"),
        "import Data.Map (Map,\n                 fromList) -- (sic\nimport qualified Data.Set as Set"
    );
    // A form: Clojure's namespace with its requires, whose `'` quotes and `;` comments are no strings.
    assert_eq!(
        check("src/app/core.clj", "(ns app.core\n  (:require [clojure.string :as str] ; text\n            [app.db :as db]))\n\n(require '[app.util :as u])\n(defn run []\n"),
        "(ns app.core\n  (:require [clojure.string :as str] ; text\n            [app.db :as db]))\n(require '[app.util :as u])"
    );
    // Leading commas on deeper lines (Elm), a trailing comma (Julia), PHP's group use.
    assert_eq!(
        check("src/Main.elm", "module Main exposing (main)\nimport Html\n    exposing\n        ( Html\n        , div\n        )\nimport Http\nmain =\n"),
        "import Html\n    exposing\n        ( Html\n        , div\n        )\nimport Http"
    );
    assert_eq!(
        check("src/A.jl", "using LinearAlgebra: norm,\n    dot\nx = 1\n"),
        "using LinearAlgebra: norm,\n    dot"
    );
    assert_eq!(check("src/a.php", "<?php\nuse App\\{Repo,\n    User};\n$x = 1;\n"), "use App\\{Repo,\n    User};");
    // A statement whose end is not above the window is not shown in part; one line after a
    // complete one at the same indentation is code.
    let into_window = format!("require \"json\"\nimport Foo (\n{filler}  bar)\n$0\n");
    let ctx = gather_fixture(&format!("//- app/x.hs\n{into_window}"), &Budget::default(), &[]);
    assert_eq!(ctx.imports, "require \"json\"");
    assert_eq!(check("app/user.rb", "require \"json\"\n  puts 1\nclass User\n"), "require \"json\"");
}

#[test]
fn code_without_a_grammar_shows_the_headers_of_the_blocks_around_the_cursor() {
    let body: String = (0..1000).map(|i| format!("      total += {i}\n")).collect();
    let elixir = format!(
        "# Billing\ndefmodule Billing do\n  defmodule Invoice do\n    def lines do\n      items\n    end\n# --- totals ---\n    def total do\n{body}      $0\n    end\n  end\nend\n"
    );
    let ctx = gather_fixture(&format!("//- lib/invoice.ex\n{elixir}"), &Budget::default(), &[]);
    // Not the comments, not `lines` (a sibling) nor its `end`.
    assert_eq!(ctx.enclosing.as_deref(), Some("defmodule Billing do\n  defmodule Invoice do\n    def total do"));
    let user = user_message(&ctx);
    assert!(
        user.contains("<enclosing_scope>\ndefmodule Billing do\n  defmodule Invoice do\n    def total do\n"),
        "{user}"
    );
    // Dart: a closing brace, even one out of place, is no header.
    let inner: String = (0..1000).map(|i| format!("        sum += {i};\n")).collect();
    let dart = format!("class Report {{\n    final a = {{\n}};\n    int sum() {{\n{inner}        $0\n    }}\n}}\n");
    let ctx = gather_fixture(&format!("//- lib/report.dart\n{dart}"), &Budget::default(), &[]);
    assert_eq!(ctx.enclosing.as_deref(), Some("class Report {\n    int sum() {"));
    // A header inside the window is visible already.
    let short = gather_fixture("//- a.ex\ndef f do\n  $0\nend\n", &Budget::default(), &[]);
    assert_eq!(short.enclosing, None);
}

#[test]
fn recent_edits_of_other_files_within_budget() {
    let edit = |path: &str, text: &str| Snippet {
        path: path.to_string(),
        text: text.to_string(),
        why: SnippetKind::RecentEdit,
    };
    let long: String = (0..40).map(|i| format!("let value_{i} = compute({i});\n")).collect();
    let recent = [
        edit("src/main.rs", "this file's own edit"),
        edit("file:///ws/src/main.rs", "this file's own edit, by URI"),
        edit(".env", "API_KEY=sk-not-for-models"),
        edit("src/a.rs", "fn a() -> u32 { 1 }"),
        edit("src/b.rs", "   \n"),
        edit("src/c.rs", &long),
        edit("src/d.rs", "never reached: the budget ran out"),
    ];
    let budget = Budget { recent_edit_chars: 300, ..Budget::default() };
    let ctx = gather_fixture("//- src/main.rs\nfn main() { $0 }\n", &budget, &recent);
    expect![[r#"
        src/main.rs (Rust) block
        code:
            fn main() { $0 }
        line: "fn main() { " $0 " }"
        recent edit in src/a.rs:
            fn a() -> u32 { 1 }
        recent edit in src/c.rs:
            let value_0 = compute(0);
            let value_1 = compute(1);
            let value_2 = compute(2);
            let value_3 = compute(3);
            let value_4 = compute(4);
            let value_5 = compute(5);
            let value_6 = compute(6);
            let value_7 = compute(7);
    "#]]
    .assert_eq(&render(&ctx));
}

#[test]
fn the_window_start_holds_still_while_the_user_types() {
    let body: String = (0..400).map(|i| format!("    let v{i} = v{} + {i};\n", i.max(1) - 1)).collect();
    let text = format!("fn long() {{\n{body}    let total = $0\n}}\n");
    let f = fixture(&text);
    let mut doc = f.doc;
    let mut starts = HashSet::new();
    for (typed, ch) in "v399 + compute(v1, v2)".chars().enumerate() {
        let cursor = f.cursor + typed;
        let ctx = gather(&doc.snapshot(), cursor, &NoSymbols, &[], &Budget::default());
        starts.insert(ctx.prefix.lines().next().unwrap_or_default().to_string());
        let at = doc.snapshot().line_col(cursor, PositionEncoding::Utf16);
        let change = TextChange::replace(TextRange::at(at), ch.to_string());
        doc.apply_changes(typed as i32 + 2, &[change], PositionEncoding::Utf16);
    }
    // 22 chars typed: the start may move once, at a multiple of budget/8 (750 chars).
    assert!(starts.len() <= 2, "{starts:?}");
}

/// The imports are found once and kept while edits land below them (see `TopImports`): after
/// each edit, the context must be exactly what a freshly opened copy of the text gives.
#[test]
fn imports_kept_across_edits_match_a_fresh_document() {
    // More than `MAX_GAP` items after the imports, so the scan stops before the end.
    let items: String = (0..40).map(|i| format!("fn item{i}() -> u32 {{\n    {i}\n}}\n\n")).collect();
    let text = format!(
        "//! Docs.\nuse std::fmt;\nuse crate::a::A;\n\nconst X: u32 = 1;\n\n{items}fn last() {{\n    let x = 1;\n}}\n"
    );
    let mut doc = Document::new("file:///ws/src/main.rs", "rust", 1, &text);
    let lines = text.lines().count() as u32;
    // The cursor at the end of `let x = 1;`: far below the imports, so they are shown.
    let cursor_of = |doc: &Document| {
        let snap = doc.snapshot();
        let line = (0..snap.len_lines()).rev().find(|&l| snap.line(l).contains("let x = 1;")).unwrap();
        snap.char_index(crate::text::LineCol::new(line as u32, 14), PositionEncoding::Utf8)
    };
    let budget = small(200, 50);
    let gathered = |doc: &Document| gather(&doc.snapshot(), cursor_of(doc), &NoSymbols, &[], &budget);
    let first = gathered(&doc);
    assert_eq!(first.imports, "use std::fmt;\nuse crate::a::A;");
    let edits: [(u32, u32, &str, &str); 6] = [
        // Below every statement the scan looked at: the imports found are kept.
        (lines - 2, 14, " let y = 2;", "kept"),
        (lines - 12, 0, "use crate::late::Late;\n", "kept"),
        // Between the imports and the end of the scan: a new import counts.
        (5, 0, "use crate::b::B;\n", "redone"),
        // Inside an import.
        (2, 15, "::Inner", "redone"),
        // The first line.
        (0, 0, "use crate::c::C;\n", "redone"),
        (lines, 0, "\nfn after() {}\n", "kept"),
    ];
    for (version, (line, col, insert, expected)) in edits.into_iter().enumerate() {
        let before = doc.snapshot();
        gathered(&doc);
        let at = TextRange::at(crate::text::LineCol::new(line, col));
        doc.apply_changes(version as i32 + 2, &[TextChange::replace(at, insert)], PositionEncoding::Utf8);
        let kept = std::ptr::eq(before.top_imports(), doc.snapshot().top_imports());
        assert_eq!(if kept { "kept" } else { "redone" }, expected, "after inserting {insert:?} at {line}:{col}");
        let fresh = Document::new(doc.uri(), "rust", 1, &doc.text());
        assert_eq!(gathered(&doc), gathered(&fresh), "after inserting {insert:?} at {line}:{col}");
    }
    assert_eq!(gathered(&doc).imports, "use crate::c::C;\nuse std::fmt;\nuse crate::a::A::Inner;\nuse crate::b::B;");
}

#[test]
fn debug_json_names_every_part() {
    let ctx = gather_fixture("//- src/lib.rs\nfn f() {\n    $0\n}\n", &Budget::default(), &[]);
    let json = context_to_debug_json(&ctx);
    expect![[r#"
        {
          "betweenItems": false,
          "cross_file": [],
          "enclosing": null,
          "imports": "",
          "language": "Rust",
          "line_prefix": "    ",
          "line_suffix": "",
          "multiline": true,
          "path": "src/lib.rs",
          "prefix": "fn f() {\n    ",
          "recent_edits": [],
          "similar": [],
          "suffix": "\n}\n"
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&json).unwrap());
}

/// Timing of `gather` on a 5,000-line file with 300 indexed files, at cursors spread over the
/// file. `KIMI_BENCH_FILE` and `KIMI_BENCH_ROOT` measure a real file and workspace instead.
///
/// `cargo test --release -p kimi-lsp --lib gather_is_fast -- --ignored --nocapture`
#[test]
#[ignore = "timing: meaningful in release builds only"]
fn gather_is_fast_on_a_big_file() {
    use std::time::Instant;
    let index = WorkspaceIndex::new();
    let (uri, text) = match std::env::var("KIMI_BENCH_FILE") {
        Ok(path) => {
            if let Ok(root) = std::env::var("KIMI_BENCH_ROOT") {
                index.build(&[PathBuf::from(root)]);
            }
            let text = std::fs::read_to_string(&path).unwrap();
            (format!("file://{path}"), text)
        }
        Err(_) => {
            index.build(&[PathBuf::from(ROOT)]);
            for f in 0..300 {
                let defs: String = (0..20)
                    .map(|d| format!("pub fn item_{f}_{d}(a: u32, b: &str) -> Option<u32> {{ None }}\npub struct Type{f}x{d} {{ pub field: u32 }}\n"))
                    .collect();
                index.update_file(&format!("{ROOT}/src/m{f}.rs"), Language::Rust, &defs);
            }
            let body: String = (0..250)
                .map(|i| {
                    format!(
                        "impl Type{i}x1 {{\n    pub fn run_{i}(&self, input: &str) -> u32 {{\n        let a = item_{i}_2(self.field, input);\n        let b = Type{i}x3 {{ field: 1 }};\n        match a {{\n            Some(v) => v + b.field,\n            None => {{\n                let text = format!(\"{{input}}\");\n                text.len() as u32\n            }}\n        }}\n    }}\n\n    fn helper_{i}(&self) {{}}\n}}\n\n// A comment between items.\n\n"
                    )
                })
                .collect();
            (format!("file://{ROOT}/src/big.rs"), body)
        }
    };
    let doc = Document::new(&uri, "", 1, &text);
    let snap = doc.snapshot();
    println!("{} lines, index: {:?}", snap.len_lines(), index);
    let mut times = Vec::new();
    let lines = snap.len_lines();
    for round in 0..5 {
        for i in 0..200 {
            let line = (i * 7919 + round) % lines;
            // At the end of the line, where completions are mostly asked for.
            let cursor = snap.char_index(crate::text::LineCol::new(line as u32, u32::MAX), PositionEncoding::Utf8);
            let start = Instant::now();
            let ctx = gather(&snap, cursor, &index, &[], &Budget::default());
            times.push(start.elapsed());
            std::hint::black_box(ctx);
        }
    }
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!("gather: p50 {:?} p90 {:?} p99 {:?} max {:?}", p(0.5), p(0.9), p(0.99), times[times.len() - 1]);
}

#[test]
fn a_member_of_a_value_reached_through_calls_and_fields_is_that_values_types() {
    // `self.client.get(url).send()`: `Client::get` returns a `RequestBuilder`, so `send` is its,
    // though the server's `send` is in the same directory.
    let types = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn get(&self, url: &str) -> RequestBuilder { todo!() }\n}\n\
//- src/http/request.rs\npub struct RequestBuilder;\nimpl RequestBuilder {\n    pub fn send(self) -> Result<Response> { todo!() }\n}\n\
//- src/serve/server.rs\npub struct Server;\nimpl Server {\n    pub fn send(&mut self, frame: Frame) {}\n}\n";
    let rust = format!(
        "{types}//- src/serve/api.rs\npub struct Api {{\n    client: Client,\n}}\nimpl Api {{\n    fn fetch(&self) {{\nPAD        let r = self.client.get(URL).send();\n        $0\n    }}\n}}\n"
    );
    let pad = |text: &str, indent: &str| padded(text, &format!("{indent}step();\n"), 45);
    assert_eq!(definitions_from(&pad(&rust, "        ")), ["get in src/http/client.rs", "send in src/http/request.rs"]);
    // A local assigned such a value, far above the cursor.
    let local = rust.replace(
        "PAD        let r = self.client.get(URL).send();",
        "        let req = self.client.get(URL);\nPAD        let r = req.send();",
    );
    assert_eq!(definitions_from(&pad(&local, "        ")), ["send in src/http/request.rs"]);
    // A lock's guard, an `unwrap` and a `?` keep the type: `inner: Arc<Mutex<Client>>`.
    let guarded = rust
        .replace("client: Client,", "inner: Arc<Mutex<Client>>,")
        .replace("self.client.get(URL).send()", "self.inner.lock().unwrap().get(URL).send()?");
    assert_eq!(
        definitions_from(&pad(&guarded, "        ")),
        ["get in src/http/client.rs", "send in src/http/request.rs"]
    );
    // A type's associated function starts a chain: `Client::builder().timeout(…).build()`.
    let builder = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn builder() -> ClientBuilder { todo!() }\n}\n\
//- src/http/builder.rs\npub struct ClientBuilder;\nimpl ClientBuilder {\n    pub fn timeout(self, t: Duration) -> Self { self }\n    pub fn build(self) -> Client { todo!() }\n}\n\
//- src/serve/pool.rs\npub struct Pool;\nimpl Pool {\n    pub fn build(self) -> Pool { self }\n}\n\
//- src/serve/run.rs\nfn run() {\nPAD    let c = Client::builder().timeout(SECOND).build();\n    $0\n}\n";
    assert_eq!(
        definitions_from(&pad(builder, "    ")),
        [
            "builder in src/http/client.rs",
            "Client in src/http/client.rs",
            "build in src/http/builder.rs",
            "timeout in src/http/builder.rs"
        ]
    );
    // What nothing declares stays open: a method the workspace does not define.
    let unknown = rust.replace("get(URL)", "post(URL)");
    assert_eq!(definitions_from(&pad(&unknown, "        ")), ["send in src/serve/server.rs"]);
    // TypeScript, Python, Go; Java, C# and C++ through a field named without `this`.
    let ts = "//- src/db/Store.ts\nexport class Store { open(id: string): Reader { return null!; } }\n\
//- src/db/Reader.ts\nexport class Reader { read(): string { return \"\"; } }\n\
//- src/app/Cache.ts\nexport class Cache { read(): string { return \"\"; } }\n\
//- src/app/Service.ts\nexport class Service {\n    constructor(private store: Store) {}\n    load(id: string) {\nPAD        const text = this.store.open(id).read();\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(ts, "        ")), ["open in src/db/Store.ts", "read in src/db/Reader.ts"]);
    let py = "//- db/session.py\nclass Session:\n    def get(self, url) -> \"Response\":\n        pass\n\
//- db/response.py\nclass Response:\n    def json(self):\n        pass\n\
//- app/cache.py\nclass Cache:\n    def json(self):\n        pass\n\
//- app/api.py\nclass Api:\n    def __init__(self, session: Session):\n        self.session = session\n\n    def fetch(self, url):\nPAD        data = self.session.get(url).json()\n        $0\n";
    assert_eq!(definitions_from(&pad(py, "        ")), ["get in db/session.py", "json in db/response.py"]);
    let go = "//- db/store.go\npackage db\ntype Store struct{}\nfunc (s *Store) Query(q string) *Rows { return nil }\n\
//- db/rows.go\npackage db\ntype Rows struct{}\nfunc (r *Rows) Scan(dest ...any) error { return nil }\n\
//- app/cache.go\npackage app\ntype Cache struct{}\nfunc (c *Cache) Scan(key string) error { return nil }\n\
//- app/server.go\npackage app\ntype Server struct {\n\tstore *db.Store\n}\nfunc (s *Server) load() {\nPAD\terr := s.store.Query(Q).Scan(&x)\n\t$0\n}\n";
    assert_eq!(definitions_from(&padded(go, "\tstep()\n", 45)), ["Query in db/store.go", "Scan in db/rows.go"]);
    let java = "//- src/db/UserRepo.java\npublic class UserRepo {\n    public User find(long id) { return null; }\n}\n\
//- src/db/User.java\npublic class User {\n    public String getName() { return null; }\n}\n\
//- src/app/Account.java\npublic class Account {\n    public String getName() { return null; }\n}\n\
//- src/app/Service.java\nclass Service {\n    private UserRepo repo;\n    String name(long id) {\nPAD        String n = repo.find(id).getName();\n        $0\n    }\n}\n";
    assert_eq!(
        definitions_from(&pad(java, "        ")),
        ["find in src/db/UserRepo.java", "getName in src/db/User.java"]
    );
    let csharp = "//- Db/Repo.cs\npublic class Repo {\n    public Order Find(int id) { return null; }\n}\n\
//- Db/Order.cs\npublic class Order {\n    public void Save() {}\n}\n\
//- App/Cache.cs\npublic class Cache {\n    public void Save() {}\n}\n\
//- App/Service.cs\nclass Service {\n    private Repo _repo;\n    void Run(int id) {\nPAD        _repo.Find(id).Save();\n        this._repo.Find(id).Save();\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&pad(csharp, "        ")), ["Find in Db/Repo.cs", "Save in Db/Order.cs"]);
    let cpp = "//- db/repo.h\nclass Repo {\npublic:\n    Order *find(int id);\n};\n\
//- db/order.h\nclass Order {\npublic:\n    void save();\n};\n\
//- app/cache.h\nclass Cache {\npublic:\n    void save();\n};\n\
//- app/service.cpp\nclass Service {\n    Repo *repo;\n    void run(int id) {\nPAD        repo->find(id)->save();\n        $0\n    }\n};\n";
    assert_eq!(definitions_from(&pad(cpp, "        ")), ["find in db/repo.h", "save in db/order.h"]);
}

#[test]
fn a_name_imported_under_another_name_is_looked_up_by_its_own() {
    // `use crate::proxy::Matcher as ProxyMatcher`: no definition is named `ProxyMatcher`, and
    // `ProxyMatcher::new()` is `Matcher`'s, so `intercept` is too, not the nearer `Gateway`'s.
    let rust = "//- src/proxy.rs\npub struct Matcher;\nimpl Matcher {\n    pub fn new() -> Matcher { Matcher }\n    pub fn intercept(&self, dst: &Uri) -> bool { true }\n}\n\
//- src/client/gateway.rs\npub struct Gateway;\nimpl Gateway {\n    pub fn intercept(&self, dst: &Uri) -> bool { true }\n}\n\
//- src/client/connect.rs\nuse crate::proxy::Matcher as ProxyMatcher;\n\nfn route(dst: &Uri) {\nPAD    let matcher = ProxyMatcher::new();\n    let hit = matcher.intercept(dst);\n    $0\n}\n";
    let pad = |text: &str| padded(text, "    step();\n", 45);
    assert_eq!(
        definitions_from(&pad(rust)),
        ["new in src/proxy.rs", "Matcher in src/proxy.rs", "intercept in src/proxy.rs"]
    );
    // A local of the alias's name is that local.
    let shadowed = rust.replace("fn route(dst: &Uri) {", "fn route(dst: &Uri, ProxyMatcher: Gateway) {");
    assert!(!definitions_from(&pad(&shadowed)).contains(&"Matcher in src/proxy.rs".to_string()));
    let ts = "//- src/net/Client.ts\nexport class Client { send(m: string): void {} }\n\
//- src/app/Server.ts\nexport class Server { send(m: string): void {} }\n\
//- src/app/Service.ts\nimport { Client as HttpClient } from \"../net/Client\";\n\nexport class Service {\n    constructor(private http: HttpClient) {}\n    run(m: string) {\nPAD        this.http.send(m);\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&padded(ts, "        step();\n", 45)), ["send in src/net/Client.ts"]);
    // Two definitions of one name, renamed apart by their imports: the module's.
    let two = "//- src/naa/AccountInfo.ts\nexport type AccountInfo = { sub: string };\n\
//- src/app/common/AccountInfo.ts\nexport type AccountInfo = { homeAccountId: string };\n\
//- src/app/Adapter.ts\nimport { AccountInfo as NaaAccountInfo } from \"../naa/AccountInfo\";\n\nexport function adapt(from: NaaAccountInfo) {\n    $0\n}\n";
    assert_eq!(definitions_from(two), ["AccountInfo in src/naa/AccountInfo.ts"]);
    let py = "//- net/client.py\nclass Client:\n    def send(self, m):\n        pass\n\
//- app/server.py\nclass Server:\n    def send(self, m):\n        pass\n\
//- app/service.py\nfrom net.client import Client as HttpClient\n\n\ndef run(m):\nPAD    http = HttpClient()\n    http.send(m)\n    $0\n";
    // The class's summary lists `send`, which is then not sent again.
    assert_eq!(definitions_from(&padded(py, "    step()\n", 45)), ["Client in net/client.py"]);
}

#[test]
fn a_member_of_a_collections_element_is_the_element_types() {
    // `for cl in &self.clients { cl.send() }` with `clients: Vec<Arc<Client>>`: `Client`'s `send`,
    // though the server's is in the same directory.
    let types = "//- src/http/client.rs\npub struct Client;\nimpl Client {\n    pub fn send(&self, req: Request) -> Response { todo!() }\n}\n\
//- src/serve/server.rs\npub struct Server;\nimpl Server {\n    pub fn send(&mut self, frame: Frame) {}\n}\n";
    let rust = format!(
        "{types}//- src/serve/pool.rs\npub struct Pool {{\n    clients: Vec<Arc<Client>>,\n}}\nimpl Pool {{\n    fn broadcast(&self, req: Request) {{\nPAD        for cl in &self.clients {{\n            cl.send(req.clone());\n            $0\n        }}\n    }}\n}}\n"
    );
    let pad = |text: &str, indent: &str| padded(text, &format!("{indent}step();\n"), 45);
    let send = ["send in src/http/client.rs"];
    assert_eq!(definitions_from(&pad(&rust, "        ")), send);
    // Without the element type, the nearer `send` is chosen: what the rule changes.
    let untyped = rust.replace("Vec<Arc<Client>>", "Vec<Arc<Handle>>");
    assert_eq!(definitions_from(&pad(&untyped, "        ")), ["send in src/serve/server.rs"]);
    // An element taken by index, or by a method that takes one out; a map's values.
    let indexed = rust.replace(
        "for cl in &self.clients {\n            cl.send(req.clone());",
        "{\n            self.clients[0].send(req.clone());",
    );
    assert_eq!(definitions_from(&pad(&indexed, "        ")), send);
    let first =
        rust.replace("for cl in &self.clients {", "{\n            let cl = self.clients.iter().rev().next().unwrap();");
    assert_eq!(definitions_from(&pad(&first, "        ")), send);
    let map = rust
        .replace("Vec<Arc<Client>>", "HashMap<u64, Client>")
        .replace("for cl in &self.clients {", "for cl in self.clients.values() {");
    assert_eq!(definitions_from(&pad(&map, "        ")), send);
    // Iterating a map gives pairs: a pair's second name is the value; `enumerate()`'s, the
    // element.
    let pairs = map.replace("for cl in self.clients.values() {", "for (id, cl) in &self.clients {");
    assert_eq!(definitions_from(&pad(&pairs, "        ")), send);
    let single = map.replace("self.clients.values()", "&self.clients");
    assert_eq!(definitions_from(&pad(&single, "        ")), ["send in src/serve/server.rs"]);
    let enumerated = rust.replace("for cl in &self.clients {", "for (i, cl) in self.clients.iter().enumerate() {");
    assert_eq!(definitions_from(&pad(&enumerated, "        ")), send);
    // A parameter's slice, and a function that returns a `Vec`.
    let param = format!(
        "{types}//- src/serve/pool.rs\nfn broadcast(clients: &[Client], req: Request) {{\nPAD    for cl in clients {{\n        cl.send(req.clone());\n        $0\n    }}\n}}\n"
    );
    assert_eq!(definitions_from(&pad(&param, "    ")), send);
    let returned = format!(
        "{types}//- src/http/registry.rs\npub fn all_clients() -> Vec<Client> {{ todo!() }}\n//- src/serve/pool.rs\nfn broadcast(req: Request) {{\nPAD    for cl in all_clients() {{\n        cl.send(req.clone());\n        $0\n    }}\n}}\n"
    );
    assert_eq!(
        definitions_from(&pad(&returned, "    ")),
        ["all_clients in src/http/registry.rs", "send in src/http/client.rs"]
    );
    // TypeScript, Python, Go, Java, C#, C++.
    let ts = "//- src/net/Client.ts\nexport class Client { send(m: string): void {} }\n\
//- src/app/Server.ts\nexport class Server { send(m: string): void {} }\n\
//- src/app/Pool.ts\nexport class Pool {\n    private clients: Client[] = [];\n    broadcast(m: string) {\nPAD        for (const cl of this.clients) {\n            cl.send(m);\n            $0\n        }\n    }\n}\n";
    assert_eq!(definitions_from(&pad(ts, "        ")), ["send in src/net/Client.ts"]);
    let ts_map = ts
        .replace("private clients: Client[] = [];", "private clients = new Map<string, Client>();")
        .replace("for (const cl of this.clients)", "for (const [id, cl] of this.clients)");
    // `new Map<string, Client>()` constructs a library type: nothing is known of its values.
    assert_eq!(definitions_from(&pad(&ts_map, "        ")), ["send in src/app/Server.ts"]);
    let ts_typed =
        ts_map.replace("private clients = new Map<string, Client>();", "private clients: Map<string, Client>;");
    assert_eq!(definitions_from(&pad(&ts_typed, "        ")), ["send in src/net/Client.ts"]);
    let py = "//- net/client.py\nclass Client:\n    def send(self, m):\n        pass\n\
//- app/server.py\nclass Server:\n    def send(self, m):\n        pass\n\
//- app/pool.py\nclass Pool:\n    def __init__(self):\n        self.clients: list[Client] = []\n\n    def broadcast(self, m):\nPAD        for cl in self.clients:\n            cl.send(m)\n            $0\n";
    assert_eq!(definitions_from(&pad(py, "        ")), ["send in net/client.py"]);
    let py_enumerate = py.replace("for cl in self.clients:", "for i, cl in enumerate(self.clients):");
    assert_eq!(definitions_from(&pad(&py_enumerate, "        ")), ["send in net/client.py"]);
    let py_items = py
        .replace("self.clients: list[Client] = []", "self.clients: dict[str, Client] = {}")
        .replace("for cl in self.clients:", "for name, cl in self.clients.items():");
    assert_eq!(definitions_from(&pad(&py_items, "        ")), ["send in net/client.py"]);
    let go = "//- net/client.go\npackage net\ntype Client struct{}\nfunc (c *Client) Send(m string) error { return nil }\n\
//- app/server.go\npackage app\ntype Server struct{}\nfunc (s *Server) Send(m string) error { return nil }\n\
//- app/pool.go\npackage app\ntype Pool struct {\n\tclients map[string]*net.Client\n}\nfunc (p *Pool) broadcast(m string) {\nPAD\tfor _, cl := range p.clients {\n\t\tcl.Send(m)\n\t\t$0\n\t}\n}\n";
    assert_eq!(definitions_from(&padded(go, "\tstep()\n", 45)), ["Send in net/client.go"]);
    let java = "//- src/net/Client.java\npublic class Client {\n    public void send(String m) {}\n}\n\
//- src/app/Server.java\npublic class Server {\n    public void send(String m) {}\n}\n\
//- src/app/Pool.java\nclass Pool {\n    private List<Client> clients;\n    void broadcast(String m) {\nPAD        for (var cl : clients) {\n            cl.send(m);\n            $0\n        }\n    }\n}\n";
    assert_eq!(definitions_from(&pad(java, "        ")), ["send in src/net/Client.java"]);
    let java_get =
        java.replace("for (var cl : clients) {\n            cl.send(m);", "{\n            clients.get(0).send(m);");
    assert_eq!(definitions_from(&pad(&java_get, "        ")), ["send in src/net/Client.java"]);
    let csharp = "//- Net/Client.cs\npublic class Client {\n    public void Send(string m) {}\n}\n\
//- App/Server.cs\npublic class Server {\n    public void Send(string m) {}\n}\n\
//- App/Pool.cs\nclass Pool {\n    private readonly List<Client> _clients;\n    void Broadcast(string m) {\nPAD        foreach (var cl in _clients) {\n            cl.Send(m);\n            $0\n        }\n    }\n}\n";
    assert_eq!(definitions_from(&pad(csharp, "        ")), ["Send in Net/Client.cs"]);
    let cpp = "//- net/client.h\nclass Client {\npublic:\n    void send(const char *m);\n};\n\
//- app/server.h\nclass Server {\npublic:\n    void send(const char *m);\n};\n\
//- app/pool.cpp\nclass Pool {\n    std::vector<Client> clients_;\n    void broadcast(const char *m) {\nPAD        for (auto &cl : clients_) {\n            cl.send(m);\n            $0\n        }\n    }\n};\n";
    assert_eq!(definitions_from(&pad(cpp, "        ")), ["send in net/client.h"]);
}

/// `member <- chain` for each member of `code` used on a value reached through calls or
/// fields, and `local = chain` for each local assigned one, sorted.
fn chains(language: Language, code: &str) -> Vec<String> {
    let names = collected(language, code);
    let mut found: Vec<String> = names
        .used
        .iter()
        .filter_map(|(name, usage)| match usage.qualifier {
            nearby::Qualifier::Chain(key) => Some(format!("{name} <- {}", names.chains[&key])),
            _ => None,
        })
        .chain(names.bound.iter().filter_map(|local| {
            let chain = names.local_chains.get(&nearby::name_hash(local))?;
            Some(format!("{local} = {chain}"))
        }))
        .collect();
    found.sort();
    found
}

#[test]
fn chains_are_read_off_each_languages_syntax() {
    let check = |language: Language, code: &str, expected: &[&str]| {
        assert_eq!(chains(language, code), expected, "{language:?}: {code}");
    };
    check(
        Language::Rust,
        "impl Api {\n    async fn f(&self) {\n        let resp = self.client.get(url).send().await?;\n        let builder = Client::builder();\n        let n = resp.body.len();\n        let v = items.iter().collect::<Vec<_>>().first();\n        let conn = db::open();\n        Self::make().run();\n        let x = a + b;\n    }\n}\n",
        &[
            "builder = <Client>.builder()",
            "collect <- items.iter()",
            "conn = open()",
            "first <- items.iter().collect()",
            "len <- resp.body",
            "resp = self.client.get().send()",
            "run <- <Self>.make()",
            "send <- self.client.get()",
        ],
    );
    check(
        Language::TypeScript,
        "class A {\n    async f() {\n        const reader = await this.store.open(id);\n        const text = new Reader(x).read().trim();\n        this.alpha.beta.run();\n        Config.load()!.value;\n    }\n}\n",
        &[
                        "read <- <Reader>",
            "reader = self.store.open()",
            "run <- self.alpha.beta",
            "text = <Reader>.read().trim()",
            "trim <- <Reader>.read()",
            "value <- <Config>.load()",
        ],
    );
    check(
        Language::Python,
        "class A:\n    def f(self):\n        data = self.session.get(url).json()\n        n = Config.load().name\n        y = helper().value\n",
        &[
            "data = self.session.get().json()",
            "json <- self.session.get()",
            "name <- <Config>.load()",
            "value <- helper()",
        ],
    );
    check(
        Language::Go,
        "package app\nfunc (s *Server) load() {\n\trows := s.store.Query(q)\n\terr := s.store.Query(q).Scan(&x)\n\tdb.Open(u).Close()\n}\n",
        &[
            "Close <- db.Open()",
            "Scan <- self.store.Query()",
            "err = self.store.Query().Scan()",
            "rows = self.store.Query()",
        ],
    );
    check(
        Language::Java,
        "class S {\n    void f() {\n        String n = repo.find(id).getName();\n        User u = getUser().copy();\n        this.a.b.run();\n    }\n}\n",
        &["copy <- self.getUser()", "getName <- repo.find()", "run <- self.a.b"],
    );
    check(
        Language::CSharp,
        "class S {\n    void F() {\n        _repo.Find(id).Save();\n        this.Repo.Find(id).Save();\n        var order = _repo.Find(id);\n    }\n}\n",
        &["Save <- _repo.Find()", "order = _repo.Find()"],
    );
    check(
        Language::Cpp,
        "void S::f() {\n    repo->find(id)->save();\n    this->pool.get().run();\n    Pool::instance().run();\n}\n",
        &["run <- self.pool.get()", "save <- repo.find()"],
    );
}

#[test]
fn loops_bind_each_element_and_indexing_takes_one() {
    let check = |language: Language, code: &str, expected: &[&str]| {
        assert_eq!(chains(language, code), expected, "{language:?}: {code}");
    };
    check(
        Language::Rust,
        "impl A {\n    fn f(&self, xs: &[Job]) {\n        for cl in &self.clients {}\n        for job in xs.iter().rev() {}\n        for (i, p) in xs.iter().enumerate() {}\n        for (id, conn) in &self.conns {}\n        self.clients[0].send();\n        let rest = &self.clients[1..];\n    }\n}\n",
        &["cl = self.clients[..]", "conn = self.conns{..}", "enumerate <- xs.iter()", "job = xs.iter().rev()[..]", "rest = self.clients", "rev <- xs.iter()", "send <- self.clients[]"],
    );
    check(
        Language::TypeScript,
        "class A {\n    f() {\n        for (const cl of this.clients) {}\n        for (const k in this.byId) {}\n        this.clients[0].send();\n    }\n}\n",
        &["cl = self.clients[..]", "send <- self.clients[]"],
    );
    check(
        Language::Python,
        "class A:\n    def f(self):\n        for cl in self.clients:\n            pass\n        names = [job.name for job in jobs]\n        self.clients[0].send()\n        more = self.clients[1:]\n",
        &["cl = self.clients[..]", "job = jobs[..]", "more = self.clients", "send <- self.clients[]"],
    );
    check(
        Language::Go,
        "package app\nfunc (s *Server) load() {\n\tfor i, cl := range s.clients {\n\t}\n\tfor k := range s.byID {\n\t}\n\ts.clients[0].Do()\n}\n",
        &["Do <- self.clients[]", "cl = self.clients[]"],
    );
    check(
        Language::Java,
        "class S {\n    void f() {\n        for (var cl : clients) {}\n        for (Job job : jobs) {}\n        clients.get(0).send();\n        all[0].run();\n    }\n}\n",
        &["cl = clients[..]", "run <- all[]", "send <- clients.get()"],
    );
    check(
        Language::CSharp,
        "class S {\n    void F() {\n        foreach (var cl in _clients) {}\n        _clients[0].Send();\n    }\n}\n",
        &["Send <- _clients[]", "cl = _clients[..]"],
    );
    check(
        Language::Cpp,
        "void S::f() {\n    for (auto& cl : clients_) {}\n    for (const Job& job : jobs_) {}\n    clients_[0].send();\n}\n",
        &["cl = clients_[..]", "send <- clients_[]"],
    );
}

#[test]
fn ruby_calls_bring_methods_and_classes_from_other_files() {
    check(
        r##"
//- app/models/user_repository.rb
require "json"

class UserRepository < Repository
  include Enumerable
  attr_reader :store
  LIMIT = 50

  def find_user(id)
    store.fetch(id)
  end

  def self.connect(url, pool: 5)
    new(Store.open(url, pool))
  end

  private

  def cache_key(id)
    "user:#{id}"
  end
end

def format_name(user)
  "#{user.first} #{user.last}"
end
//- app/services/signup.rb
require_relative "../models/user_repository"

class Signup
  def call(id)
    repo = UserRepository.connect(ENV["DB"])
    user = repo.find_user(id)
    label = format_name(user)
    key = repo.cache_key(id)
    $0
  end
end
"##,
        expect![[r#"
            app/services/signup.rb (Ruby) block
            code:
                require_relative "../models/user_repository"

                class Signup
                  def call(id)
                    repo = UserRepository.connect(ENV["DB"])
                    user = repo.find_user(id)
                    label = format_name(user)
                    key = repo.cache_key(id)
                    $0
                  end
                end
            line: "    " $0 ""
            definition of format_name in app/models/user_repository.rb:
                def format_name(user) ... end
            definition of UserRepository in app/models/user_repository.rb:
                class UserRepository < Repository
                  include Enumerable
                  attr_reader :store
                  LIMIT = 50
                  def find_user(id) ... end
                  def self.connect(url, pool: 5) ... end
                end
        "#]],
    );
}

#[test]
fn php_calls_bring_methods_and_classes_from_other_files() {
    check(
        r#"
//- src/Repository/UserRepository.php
<?php

namespace App\Repository;

use App\Entity\User;

interface Finder
{
    public function findUser(int $id): ?User;
}

class UserRepository implements Finder
{
    public const LIMIT = 50;
    private array $cache = [];

    public function findUser(int $id): ?User
    {
        return $this->cache[$id] ?? null;
    }

    private function load(int $id): ?User
    {
        return null;
    }
}

function format_name(User $user): string
{
    return $user->first . ' ' . $user->last;
}
//- src/Controller/SignupController.php
<?php

namespace App\Controller;

use App\Repository\UserRepository;

require_once __DIR__ . '/../helpers.php';

class SignupController
{
    public function show(UserRepository $repo, int $id): string
    {
        $user = $repo->findUser($id);
        $label = format_name($user);
        $repo->load($id);
        $0
    }
}
"#,
        expect![[r#"
            src/Controller/SignupController.php (PHP) block
            code:
                <?php

                namespace App\Controller;

                use App\Repository\UserRepository;

                require_once __DIR__ . '/../helpers.php';

                class SignupController
                {
                    public function show(UserRepository $repo, int $id): string
                    {
                        $user = $repo->findUser($id);
                        $label = format_name($user);
                        $repo->load($id);
                        $0
                    }
                }
            line: "        " $0 ""
            definition of format_name in src/Repository/UserRepository.php:
                function format_name(User $user): string
            definition of UserRepository in src/Repository/UserRepository.php:
                class UserRepository implements Finder {
                    public const LIMIT = 50;
                    public function findUser(int $id): ?User;
                }
        "#]],
    );
}

#[test]
fn ruby_and_php_cut_prefixes_bring_their_requires_uses_and_enclosing_headers() {
    let filler: String = (0..1000).map(|i| format!("    total += {i}\n")).collect();
    let ruby = format!(
        "# frozen_string_literal: true\nrequire \"json\"\nrequire_relative \"lib/client\"\n\nclass Report\n  include Comparable\n  def sum\n{filler}    $0\n  end\nend\n"
    );
    let ctx = gather_fixture(&format!("//- app/report.rb\n{ruby}"), &Budget::default(), &[]);
    assert_eq!(ctx.imports, "require \"json\"\nrequire_relative \"lib/client\"");
    assert_eq!(ctx.enclosing.as_deref(), Some("class Report\n  def sum"));
    let filler: String = (0..1000).map(|i| format!("        $total += {i};\n")).collect();
    let php = format!(
        "<?php\n\nnamespace App\\Reports;\n\nuse App\\Models\\Invoice;\nuse function App\\format_money;\n\nrequire_once __DIR__ . '/helpers.php';\n\nfinal class Report\n{{\n    public function sum(): int\n    {{\n{filler}        $0\n    }}\n}}\n"
    );
    let ctx = gather_fixture(&format!("//- src/Reports/Report.php\n{php}"), &Budget::default(), &[]);
    assert_eq!(
        ctx.imports,
        "namespace App\\Reports;\nuse App\\Models\\Invoice;\nuse function App\\format_money;\nrequire_once __DIR__ . '/helpers.php';"
    );
    assert_eq!(ctx.enclosing.as_deref(), Some("final class Report {\n    public function sum(): int {"));
}

#[test]
fn kotlin_calls_bring_methods_and_classes_from_other_files() {
    check(
        r#"
//- src/main/kotlin/com/acme/users/UserRepository.kt
package com.acme.users

import com.acme.db.Database

class UserRepository(private val db: Database) {
    internal var hits: Int = 0

    fun findUser(id: Int): User? = db.load(id)

    private fun cacheKey(id: Int): String {
        return "user:$id"
    }

    companion object {
        fun connect(url: String): UserRepository = UserRepository(Database(url))
    }
}

private fun formatInternal(user: User) = user.name

fun formatName(user: User): String {
    return "${user.first} ${user.last}"
}
//- src/main/kotlin/com/acme/signup/Signup.kt
package com.acme.signup

import com.acme.users.UserRepository

class Signup {
    fun call(id: Int) {
        val repo = UserRepository.connect(System.getenv("DB"))
        val user = repo.findUser(id)
        val label = formatName(user)
        val key = repo.cacheKey(id)
        val other = formatInternal(user)
        $0
    }
}
"#,
        expect![[r#"
            src/main/kotlin/com/acme/signup/Signup.kt (Kotlin) block
            code:
                package com.acme.signup

                import com.acme.users.UserRepository

                class Signup {
                    fun call(id: Int) {
                        val repo = UserRepository.connect(System.getenv("DB"))
                        val user = repo.findUser(id)
                        val label = formatName(user)
                        val key = repo.cacheKey(id)
                        val other = formatInternal(user)
                        $0
                    }
                }
            line: "        " $0 ""
            definition of formatName in src/main/kotlin/com/acme/users/UserRepository.kt:
                fun formatName(user: User): String
            definition of UserRepository in src/main/kotlin/com/acme/users/UserRepository.kt:
                class UserRepository(private val db: Database) {
                    internal var hits: Int = 0
                    fun findUser(id: Int): User?
                    companion object {
                        fun connect(url: String): UserRepository
                    }
                }
        "#]],
    );
}

#[test]
fn kotlin_cut_prefixes_bring_their_package_imports_and_enclosing_headers() {
    let filler: String = (0..1000).map(|i| format!("        total += {i}\n")).collect();
    let kotlin = format!(
        "package com.acme.reports\n\nimport com.acme.money.Money\nimport kotlin.math.max as maximum\n\nclass Report(val lines: List<Line>) {{\n    fun sum(): Int {{\n        var total = 0\n{filler}        $0\n    }}\n}}\n"
    );
    let ctx = gather_fixture(&format!("//- src/main/kotlin/Report.kt\n{kotlin}"), &Budget::default(), &[]);
    assert_eq!(ctx.imports, "package com.acme.reports\nimport com.acme.money.Money\nimport kotlin.math.max as maximum");
    assert_eq!(ctx.enclosing.as_deref(), Some("class Report(val lines: List<Line>) {\n    fun sum(): Int {"));
}

#[test]
fn php_members_through_typed_properties_and_this_are_their_classes() {
    // `$this->store->find()`: the promoted property's `UserRepository`, not the `StoreCache` the
    // property's name reads like; `$this->render()` and `self::audit()` the base's base's, not
    // the mailer's beside the file.
    check(
        r#"
//- src/Repository/UserRepository.php
<?php
namespace App\Repository;
class UserRepository
{
    public function find(int $id): ?User
    {
        return null;
    }
}
//- src/Cache/StoreCache.php
<?php
namespace App\Cache;
class StoreCache
{
    public function find(string $key): ?Entry
    {
        return null;
    }
}
//- src/Http/Controller.php
<?php
namespace App\Http;
abstract class Controller
{
    protected function render(string $view): string
    {
        return $view;
    }

    protected static function audit(string $event): void
    {
    }
}
//- src/Http/BaseController.php
<?php
namespace App\Http;
abstract class BaseController extends Controller
{
}
//- src/Controller/Mailer.php
<?php
namespace App\Controller;
class Mailer
{
    public function render(string $template): string
    {
        return $template;
    }

    public static function audit(string $event): void
    {
    }
}
//- src/Controller/SignupController.php
<?php

namespace App\Controller;

class SignupController extends BaseController
{
    public function __construct(private UserRepository $store)
    {
    }

    public function show(int $id): string
    {
        $user = $this->store->find($id);
        self::audit('signup');
        return $this->render('signup');
        $0
    }
}
"#,
        expect![[r#"
            src/Controller/SignupController.php (PHP) block
            code:
                <?php

                namespace App\Controller;

                class SignupController extends BaseController
                {
                    public function __construct(private UserRepository $store)
                    {
                    }

                    public function show(int $id): string
                    {
                        $user = $this->store->find($id);
                        self::audit('signup');
                        return $this->render('signup');
                        $0
                    }
                }
            line: "        " $0 ""
            definition of render in src/Http/Controller.php:
                abstract class Controller { protected function render(string $view): string; }
            definition of audit in src/Http/Controller.php:
                abstract class Controller { protected static function audit(string $event): void; }
            definition of find in src/Repository/UserRepository.php:
                class UserRepository { public function find(int $id): ?User; }
        "#]],
    );
}

#[test]
fn php_locals_parameters_and_properties_are_the_types_they_are_declared_or_built_with() {
    let pad = |text: &str| padded(text, "        step();\n", 45);
    let classes = "//- src/Repository/UserRepository.php\n<?php\nclass UserRepository\n{\n    public function find(int $id): ?User\n    {\n        return null;\n    }\n}\n\
//- src/Controller/StoreCache.php\n<?php\nclass StoreCache\n{\n    public function find(string $key): ?Entry\n    {\n        return null;\n    }\n}\n";
    // A typed property declared far above the cursor.
    let property = format!(
        "{classes}//- src/Controller/Api.php\n<?php\nclass Api\n{{\n    private UserRepository $store;\n\n    public function load(int $id)\n    {{\nPAD        $user = $this->store->find($id);\n        $0\n    }}\n}}\n"
    );
    assert_eq!(definitions_from(&pad(&property)), ["find in src/Repository/UserRepository.php"]);
    // Assigned in the constructor from a typed parameter, or constructed there.
    let assigned = property.replace(
        "    private UserRepository $store;\n",
        "    private $store;\n\n    public function __construct(?UserRepository $store)\n    {\n        $this->store = $store;\n    }\n",
    );
    assert_eq!(definitions_from(&pad(&assigned)), ["find in src/Repository/UserRepository.php"]);
    let constructed = property.replace(
        "    private UserRepository $store;\n",
        "    private $store;\n\n    public function __construct()\n    {\n        $this->store = new \\App\\UserRepository();\n    }\n",
    );
    assert_eq!(definitions_from(&pad(&constructed)), ["find in src/Repository/UserRepository.php"]);
    // A typed parameter, a local built with `new`, a local a function's return type gives.
    let parameter = format!(
        "{classes}//- src/Controller/Api.php\n<?php\nfunction load(UserRepository|null $store, int $id)\n{{\nPAD    $user = $store->find($id);\n    $0\n}}\n"
    );
    assert_eq!(definitions_from(&pad(&parameter)), ["find in src/Repository/UserRepository.php"]);
    let local =
        parameter.replace("UserRepository|null $store, ", "").replace("PAD", "    $store = new UserRepository();\nPAD");
    assert_eq!(definitions_from(&pad(&local)), ["find in src/Repository/UserRepository.php"]);
    let returned = format!("{classes}//- src/helpers.php\n<?php\nfunction open_store(string $dsn): UserRepository\n{{\n    return new UserRepository();\n}}\n")
        + "//- src/Controller/Api.php\n<?php\nfunction load(int $id)\n{\n    $store = open_store('db');\nPAD    $user = $store->find($id);\n    $0\n}\n";
    assert_eq!(definitions_from(&pad(&returned)), ["find in src/Repository/UserRepository.php"]);
    // Untyped, the value's name still ranks.
    let untyped = parameter.replace("UserRepository|null $store", "$store");
    assert_eq!(definitions_from(&pad(&untyped)), ["find in src/Controller/StoreCache.php"]);
}

#[test]
fn ruby_members_through_instance_variables_self_and_classes_are_their_classes() {
    // `@store.find`: the `UserRepository` `initialize` builds, not the `StoreCache` the name
    // reads like; `notify` (no receiver) and `self.track` the base's base's, not the mailer's
    // beside the file.
    check(
        r#"
//- app/models/user_repository.rb
class UserRepository
  def find(id)
    nil
  end
end
//- app/cache/store_cache.rb
class StoreCache
  def find(key)
    nil
  end

  def self.connect(url)
    new
  end
end
//- app/core/service.rb
class Service
  def notify(event)
    nil
  end

  def track(event)
    nil
  end
end
//- app/core/base_service.rb
class BaseService < Service
end
//- app/services/mailer.rb
class Mailer
  def notify(event)
    nil
  end

  def track(event)
    nil
  end

  def self.connect(url)
    new
  end
end
//- app/services/signup.rb
class Signup < BaseService
  def initialize
    @store = UserRepository.new
  end

  def call(id)
    user = @store.find(id)
    notify(:signup)
    self.track(:signup)
    $0
  end
end
"#,
        expect![[r#"
            app/services/signup.rb (Ruby) block
            code:
                class Signup < BaseService
                  def initialize
                    @store = UserRepository.new
                  end

                  def call(id)
                    user = @store.find(id)
                    notify(:signup)
                    self.track(:signup)
                    $0
                  end
                end
            line: "    " $0 ""
            definition of find in app/models/user_repository.rb:
                class UserRepository
                  def find(id) ... end
                end
            definition of notify in app/core/service.rb:
                class Service
                  def notify(event) ... end
                end
            definition of track in app/core/service.rb:
                class Service
                  def track(event) ... end
                end
        "#]],
    );
}

#[test]
fn ruby_locals_built_with_new_are_their_classes() {
    let pad = |text: &str| padded(text, "    step\n", 45);
    let text = "//- app/models/user_repository.rb\nclass UserRepository\n  def find(id)\n    nil\n  end\nend\n\
//- app/services/store_cache.rb\nclass StoreCache\n  def find(key)\n    nil\n  end\nend\n\
//- app/services/load.rb\ndef load(id)\n  store = Models::UserRepository.new\nPAD  user = store.find(id)\n  $0\nend\n";
    assert_eq!(definitions_from(&pad(text)), ["find in app/models/user_repository.rb"]);
    let untyped = text.replace("Models::UserRepository.new", "open_store");
    assert_eq!(definitions_from(&pad(&untyped)), ["find in app/services/store_cache.rb"]);
}

#[test]
fn kotlin_companion_members_are_called_on_their_class() {
    // `UserRepository.connect(…)` is the companion object's `connect`, shown in the class's
    // companion, not the `connect` of the class beside the file.
    check(
        r#"
//- src/main/kotlin/com/acme/users/UserRepository.kt
package com.acme.users

class UserRepository(private val db: Database) {
    fun findUser(id: Int): User? = db.load(id)

    companion object {
        fun connect(url: String): UserRepository = UserRepository(Database(url))
    }
}
//- src/main/kotlin/com/acme/signup/StoreCache.kt
package com.acme.signup

class StoreCache {
    fun connect(url: String): StoreCache = this
}
//- src/main/kotlin/com/acme/signup/Signup.kt
package com.acme.signup

import com.acme.users.UserRepository

fun signup(id: Int) {
    val repo = UserRepository.connect(System.getenv("DB"))
    $0
}
"#,
        expect![[r#"
            src/main/kotlin/com/acme/signup/Signup.kt (Kotlin) block
            code:
                package com.acme.signup

                import com.acme.users.UserRepository

                fun signup(id: Int) {
                    val repo = UserRepository.connect(System.getenv("DB"))
                    $0
                }
            line: "    " $0 ""
            definition of UserRepository in src/main/kotlin/com/acme/users/UserRepository.kt:
                class UserRepository(private val db: Database) {
                    fun findUser(id: Int): User?
                    companion object {
                        fun connect(url: String): UserRepository
                    }
                }
        "#]],
    );
}

#[test]
fn swift_calls_bring_methods_and_types_from_other_files() {
    check(
        r#"
//- Sources/Users/UserRepository.swift
import Foundation

public final class UserRepository: Repository {
    private let db: Database
    var hits: Int = 0
    // Only its setter is private.
    private(set) var version = 1
    var isEmpty: Bool { hits == 0 }

    init(db: Database) {
        self.db = db
    }

    func findUser(id: Int) -> User? {
        return db.load(id)
    }

    private func cacheKey(_ id: Int) -> String {
        return "user:\(id)"
    }

    fileprivate func evict() {}

    static func connect(url: String) -> UserRepository {
        UserRepository(db: Database(url))
    }
}

extension UserRepository {
    func findAll(ids: [Int]) -> [User] {
        ids.compactMap { findUser(id: $0) }
    }
}

enum Role: String {
    case admin, member
    case guest = "g"
}

private func formatInternal(_ user: User) -> String { user.name }

fileprivate let secret = "s"

func formatName(_ user: User) -> String {
    return "\(user.first) \(user.last)"
}
//- Sources/App/Signup.swift
import Users

struct Signup {
    func call(id: Int) {
        let repo = UserRepository.connect(url: ProcessInfo.processInfo.environment["DB"]!)
        let user = repo.findUser(id: id)
        let users = repo.findAll(ids: [id])
        let label = formatName(user)
        let key = repo.cacheKey(id)
        let other = formatInternal(user)
        let role = Role.admin
        $0
    }
}
"#,
        expect![[r#"
            Sources/App/Signup.swift (Swift) block
            code:
                import Users

                struct Signup {
                    func call(id: Int) {
                        let repo = UserRepository.connect(url: ProcessInfo.processInfo.environment["DB"]!)
                        let user = repo.findUser(id: id)
                        let users = repo.findAll(ids: [id])
                        let label = formatName(user)
                        let key = repo.cacheKey(id)
                        let other = formatInternal(user)
                        let role = Role.admin
                        $0
                    }
                }
            line: "        " $0 ""
            definition of Role in Sources/Users/UserRepository.swift:
                enum Role: String {
                    case admin, member; case guest = "g"
                }
            definition of formatName in Sources/Users/UserRepository.swift:
                func formatName(_ user: User) -> String
            definition of findAll in Sources/Users/UserRepository.swift:
                extension UserRepository { func findAll(ids: [Int]) -> [User] }
            definition of UserRepository in Sources/Users/UserRepository.swift:
                public final class UserRepository: Repository {
                    var hits: Int = 0
                    private(set) var version = 1
                    var isEmpty: Bool
                    init(db: Database)
                    func findUser(id: Int) -> User?
                    static func connect(url: String) -> UserRepository
                }
        "#]],
    );
}

#[test]
fn kotlin_enum_entries_are_found_by_name() {
    // `RED`, imported from its enum far above the cursor, is the enum's entry.
    let text = "//- src/main/kotlin/com/acme/paint/Color.kt\npackage com.acme.paint\n\nenum class Color(val rgb: Int) {\n    RED(0xFF0000),\n    GREEN(0x00FF00) {\n        override fun toString() = \"green\"\n    }\n}\n\
//- src/main/kotlin/com/acme/signup/Signup.kt\npackage com.acme.signup\n\nimport com.acme.paint.Color.RED\n\nfun signup(id: Int) {\nPAD    paint(RED)\n    $0\n}\n";
    assert_eq!(definitions_from(&padded(text, "    step()\n", 45)), ["RED in src/main/kotlin/com/acme/paint/Color.kt"]);
    let ctx = gather_fixture(&padded(text, "    step()\n", 45), &Budget::default(), &[]);
    assert_eq!(ctx.cross_file[0].text, "enum class Color(val rgb: Int) { RED(0xFF0000) }");
}

#[test]
fn a_call_qualified_by_a_class_is_never_another_classs_member() {
    // `UserRepository.connect(…)` where `UserRepository` defines no `connect` (a library base
    // may): the class, not the `connect` of the class beside the file, in Ruby (`.` and `::`),
    // PHP, Kotlin and Swift alike.
    let pad = |text: &str, line: &str| padded(text, line, 45);
    let ruby = "//- app/models/user_repository.rb\nclass UserRepository < Sequel::Model\n  def find(id)\n    nil\n  end\nend\n\
//- app/services/store_cache.rb\nclass StoreCache\n  def self.connect(url)\n    new\n  end\nend\n\
//- app/services/load.rb\ndef load(id)\nPAD  repo = CALL(ENV[\"DB\"])\n  $0\nend\n";
    for call in ["UserRepository.connect", "UserRepository::connect"] {
        let text = pad(&ruby.replace("CALL", call), "  step\n");
        assert_eq!(definitions_from(&text), ["UserRepository in app/models/user_repository.rb"], "{call}");
        // Called on no class, the other class's is the one there is.
        let loose = pad(&ruby.replace("CALL", "connect"), "  step\n");
        assert_eq!(definitions_from(&loose), ["connect in app/services/store_cache.rb"], "{call}");
    }
    let php = "//- src/Repository/UserRepository.php\n<?php\nclass UserRepository extends EntityRepository\n{\n    public function find(int $id): ?User\n    {\n        return null;\n    }\n}\n\
//- src/Service/StoreCache.php\n<?php\nclass StoreCache\n{\n    public static function connect(string $url): self\n    {\n        return new self();\n    }\n}\n\
//- src/Service/load.php\n<?php\nfunction load(int $id)\n{\nPAD    $repo = CALL(getenv('DB'));\n    $0\n}\n";
    let text = pad(&php.replace("CALL", "UserRepository::connect"), "    step();\n");
    assert_eq!(definitions_from(&text), ["UserRepository in src/Repository/UserRepository.php"]);
    let kotlin = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository : JpaRepository() {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun connect(url: String): StoreCache = this\n}\n\
//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nfun load(id: Int) {\nPAD    val repo = CALL(System.getenv(\"DB\"))\n    $0\n}\n";
    let text = pad(&kotlin.replace("CALL", "UserRepository.connect"), "    step()\n");
    assert_eq!(definitions_from(&text), ["UserRepository in src/main/kotlin/com/acme/users/UserRepository.kt"]);
    let swift = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository: Repository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    static func connect(url: String) -> StoreCache { StoreCache() }\n}\n\
//- Sources/App/Load.swift\nfunc load(id: Int) {\nPAD    let repo = CALL(url: \"db\")\n    $0\n}\n";
    let text = pad(&swift.replace("CALL", "UserRepository.connect"), "    step()\n");
    assert_eq!(definitions_from(&text), ["UserRepository in Sources/Users/UserRepository.swift"]);
    // Where the class has one (a static method of an extension), it is the class's.
    let own = swift.replace(
        "//- Sources/App/Load.swift",
        "//- Sources/Users/Connect.swift\nextension UserRepository {\n    static func connect(url: String) -> UserRepository { UserRepository() }\n}\n//- Sources/App/Load.swift",
    );
    let text = pad(&own.replace("CALL", "UserRepository.connect"), "    step()\n");
    assert_eq!(
        definitions_from(&text),
        ["UserRepository in Sources/Users/UserRepository.swift", "connect in Sources/Users/Connect.swift"]
    );
}

#[test]
fn php_methods_returning_self_or_static_return_their_class() {
    // `UserRepository::create()` declared `: static`, `withLimit()` declared `: self` or
    // `: ?self`: the local and the chain are `UserRepository`'s, so `find` is its own, not the
    // cache's beside the file.
    let text = "//- src/Repository/UserRepository.php\n<?php\nclass UserRepository\n{\n    public static function create(): static\n    {\n        return new static();\n    }\n\n    public function withLimit(int $n): self\n    {\n        return $this;\n    }\n\n    public function find(int $id): ?User\n    {\n        return null;\n    }\n}\n\
//- src/Service/StoreCache.php\n<?php\nclass StoreCache\n{\n    public function find(string $key): ?Entry\n    {\n        return null;\n    }\n}\n\
//- src/Service/load.php\n<?php\nfunction load(int $id)\n{\n    $repo = UserRepository::create();\nPAD    $user = $repo->find($id);\n    $0\n}\n";
    let pad = |text: &str| padded(text, "    step();\n", 45);
    assert_eq!(definitions_from(&pad(text)), ["find in src/Repository/UserRepository.php"]);
    let chained = text.replace("$repo->find($id)", "$repo->withLimit(5)->find($id)");
    let found = ["find in src/Repository/UserRepository.php", "withLimit in src/Repository/UserRepository.php"];
    assert_eq!(definitions_from(&pad(&chained)), found);
    let optional = chained.replace("withLimit(int $n): self", "withLimit(int $n): ?self");
    assert_eq!(definitions_from(&pad(&optional)), found);
}

#[test]
fn php_traits_and_ruby_modules_are_followed_as_bases_are() {
    // `$this->audit()` in a class that `use`s `Auditable` is the trait's, not the mailer's
    // beside the file; so is `$repo->audit()` with `UserRepository $repo`, whose class uses a
    // trait that uses it.
    let pad = |text: &str, line: &str| padded(text, line, 45);
    let php = "//- src/Concerns/Auditable.php\n<?php\nnamespace App\\Concerns;\ntrait Auditable\n{\n    public function audit(string $event): void\n    {\n    }\n}\n\
//- src/Concerns/Tracked.php\n<?php\nnamespace App\\Concerns;\ntrait Tracked\n{\n    use Auditable;\n}\n\
//- src/Repository/UserRepository.php\n<?php\nclass UserRepository\n{\n    use \\App\\Concerns\\Tracked;\n}\n\
//- src/Controller/Mailer.php\n<?php\nclass Mailer\n{\n    public function audit(string $event): void\n    {\n    }\n}\n";
    let own = format!("{php}//- src/Controller/SignupController.php\n<?php\nclass SignupController extends Controller\n{{\n    use Auditable, Loggable;\n\n    public function show(int $id): string\n    {{\nPAD        $this->audit('signup');\n        $0\n    }}\n}}\n");
    assert_eq!(definitions_from(&pad(&own, "        step();\n")), ["audit in src/Concerns/Auditable.php"]);
    let typed = format!("{php}//- src/Controller/load.php\n<?php\nfunction load(UserRepository $repo)\n{{\nPAD    $repo->audit('load');\n    $0\n}}\n");
    assert_eq!(definitions_from(&pad(&typed, "    step();\n")), ["audit in src/Concerns/Auditable.php"]);
    // Ruby's `include`d and `extend`ed modules, also a module's own.
    let ruby = "//- app/concerns/trackable.rb\nmodule Trackable\n  def track(event)\n    nil\n  end\nend\n\
//- app/concerns/audited.rb\nmodule Audited\n  include Concerns::Trackable\nend\n\
//- app/models/user_repository.rb\nclass UserRepository\n  extend Audited\nend\n\
//- app/services/mailer.rb\nclass Mailer\n  def track(event)\n    nil\n  end\nend\n";
    let own = format!("{ruby}//- app/services/signup.rb\nclass Signup < BaseService\n  include Comparable\n  include Trackable\n\n  def call(id)\nPAD    track(:signup)\n    $0\n  end\nend\n");
    assert_eq!(definitions_from(&pad(&own, "    step\n")), ["track in app/concerns/trackable.rb"]);
    let typed = format!("{ruby}//- app/services/load.rb\ndef load(id)\n  repo = UserRepository.new\nPAD  repo.track(:load)\n  $0\nend\n");
    assert_eq!(definitions_from(&pad(&typed, "  step\n")), ["track in app/concerns/trackable.rb"]);
}

#[test]
fn swift_cut_prefixes_bring_their_imports_and_enclosing_headers() {
    let filler: String = (0..1000).map(|i| format!("        total += {i}\n")).collect();
    let swift = format!(
        "import Foundation\n@testable import Money\n\nstruct Report {{\n    let lines: [Line]\n\n    func sum() -> Int {{\n        var total = 0\n{filler}        $0\n    }}\n}}\n"
    );
    let ctx = gather_fixture(&format!("//- Sources/App/Report.swift\n{swift}"), &Budget::default(), &[]);
    assert_eq!(ctx.imports, "import Foundation\n@testable import Money");
    assert_eq!(ctx.enclosing.as_deref(), Some("struct Report {\n    func sum() -> Int {"));
}

#[test]
fn kotlin_members_through_typed_properties_and_this_are_their_classes() {
    // `this.store.find()`: the constructor property's `UserRepository`, not the `StoreCache` the
    // property's name reads like; `this.audit()` and a receiverless `render()` the base's base's,
    // not the mailer's beside the file.
    check(
        r#"
//- src/main/kotlin/com/acme/users/UserRepository.kt
package com.acme.users

class UserRepository {
    fun find(id: Int): User? = null
}
//- src/main/kotlin/com/acme/signup/StoreCache.kt
package com.acme.signup

class StoreCache {
    fun find(key: String): Entry? = null
}
//- src/main/kotlin/com/acme/web/Controller.kt
package com.acme.web

abstract class Controller {
    protected fun render(view: String): String = view

    fun audit(event: String) {}
}
//- src/main/kotlin/com/acme/web/BaseController.kt
package com.acme.web

abstract class BaseController : Controller()
//- src/main/kotlin/com/acme/signup/Mailer.kt
package com.acme.signup

class Mailer {
    fun render(template: String): String = template

    fun audit(event: String) {}
}
//- src/main/kotlin/com/acme/signup/SignupController.kt
package com.acme.signup

class SignupController(private val store: UserRepository) : BaseController(), Auditable {
    fun show(id: Int): String {
        val user = this.store.find(id)
        this.audit("signup")
        return render("signup")
        $0
    }
}
"#,
        expect![[r#"
            src/main/kotlin/com/acme/signup/SignupController.kt (Kotlin) block
            code:
                package com.acme.signup

                class SignupController(private val store: UserRepository) : BaseController(), Auditable {
                    fun show(id: Int): String {
                        val user = this.store.find(id)
                        this.audit("signup")
                        return render("signup")
                        $0
                    }
                }
            line: "        " $0 ""
            definition of render in src/main/kotlin/com/acme/web/Controller.kt:
                abstract class Controller { protected fun render(view: String): String }
            definition of BaseController in src/main/kotlin/com/acme/web/BaseController.kt:
                abstract class BaseController : Controller() {
                }
            definition of UserRepository in src/main/kotlin/com/acme/users/UserRepository.kt:
                class UserRepository {
                    fun find(id: Int): User?
                }
            definition of audit in src/main/kotlin/com/acme/web/Controller.kt:
                abstract class Controller { fun audit(event: String) }
        "#]],
    );
}

#[test]
fn kotlin_locals_parameters_properties_and_returns_are_their_declared_types() {
    let pad = |text: &str| padded(text, "    step()\n", 45);
    let classes = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/users/Stores.kt\npackage com.acme.users\n\nfun openStore(dsn: String): UserRepository? = null\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun find(key: String): Entry? = null\n}\n";
    let found = ["find in src/main/kotlin/com/acme/users/UserRepository.kt"];
    let load = |body: &str| {
        format!("{classes}//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nimport com.acme.users.UserRepository\n\nfun load(id: Int) {{\n{body}    $0\n}}\n")
    };
    // Constructed, written (nullable too), or returned by a function, far above the use.
    for local in [
        "    val store = UserRepository(db)\n",
        "    val store: UserRepository = lookup()\n",
        "    var store: UserRepository? = null\n",
        "    val store = openStore(\"db\")\n",
    ] {
        let text = load(&format!("{local}PAD    val user = store.find(id)\n"));
        assert_eq!(definitions_from(&pad(&text)), found, "{local}");
    }
    // A return type through a chain.
    let chained = load("PAD    val user = openStore(\"db\").find(id)\n");
    assert_eq!(definitions_from(&pad(&chained)), ["openStore in src/main/kotlin/com/acme/users/Stores.kt", found[0]]);
    // A method's return type, the method reached through a typed local.
    let through = format!(
        "//- src/main/kotlin/com/acme/users/Registry.kt\npackage com.acme.users\n\nclass Registry {{\n    fun users(): UserRepository = TODO()\n}}\n{}",
        load("    val registry: Registry = lookup()\nPAD    val user = registry.users().find(id)\n")
    );
    assert_eq!(definitions_from(&pad(&through)), [found[0], "users in src/main/kotlin/com/acme/users/Registry.kt"]);
    // A typed parameter, nullable or not.
    for (ty, call) in [("UserRepository", "store.find(id)"), ("UserRepository?", "store?.find(id)")] {
        let parameter = load(&format!("PAD    val user = {call}\n"))
            .replace("fun load(id: Int)", &format!("fun load(store: {ty}, id: Int)"));
        assert_eq!(definitions_from(&pad(&parameter)), found, "{ty}");
    }
    // A property of the class around the cursor, with `this.` or without.
    for (property, call) in [
        ("    private val store: UserRepository = UserRepository(Database())\n", "store.find(id)"),
        ("    private val store = UserRepository(Database())\n", "this.store.find(id)"),
    ] {
        let text = format!("{classes}//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nclass Loader {{\n{property}\n    fun load(id: Int) {{\nPAD        val user = {call}\n        $0\n    }}\n}}\n");
        assert_eq!(definitions_from(&padded(&text, "        step()\n", 45)), found, "{call}");
    }
    // Untyped, the value's name still ranks.
    let untyped = load("    val store = lookup()\nPAD    val user = store.find(id)\n");
    assert_eq!(definitions_from(&pad(&untyped)), ["find in src/main/kotlin/com/acme/signup/StoreCache.kt"]);
}

#[test]
fn swift_members_through_typed_properties_self_and_extensions_are_their_types() {
    // In an extension of the class, `self.store.find()` is the stored property's
    // `UserRepository`, not the `StoreCache` the name reads like; `self.audit()` (an extension of
    // the base's base) and a receiverless `render()` are the base's base's, not the mailer's
    // beside the file.
    check(
        r#"
//- Sources/Users/UserRepository.swift
final class UserRepository {
    func find(id: Int) -> User? { nil }
}
//- Sources/App/StoreCache.swift
final class StoreCache {
    func find(key: String) -> Entry? { nil }
}
//- Sources/Web/Controller.swift
class Controller {
    func render(_ view: String) -> String { view }
}

extension Controller {
    func audit(_ event: String) {}
}
//- Sources/Web/BaseController.swift
class BaseController: Controller {}
//- Sources/App/Mailer.swift
final class Mailer {
    func render(_ template: String) -> String { template }
    func audit(_ event: String) {}
}
//- Sources/App/SignupController.swift
final class SignupController: BaseController, Auditable {
    let store: UserRepository

    init(store: UserRepository) {
        self.store = store
    }
}

extension SignupController {
    func show(id: Int) -> String {
        let user = self.store.find(id: id)
        self.audit("signup")
        return render("signup")
        $0
    }
}
"#,
        expect![[r#"
            Sources/App/SignupController.swift (Swift) block
            code:
                final class SignupController: BaseController, Auditable {
                    let store: UserRepository

                    init(store: UserRepository) {
                        self.store = store
                    }
                }

                extension SignupController {
                    func show(id: Int) -> String {
                        let user = self.store.find(id: id)
                        self.audit("signup")
                        return render("signup")
                        $0
                    }
                }
            line: "        " $0 ""
            definition of render in Sources/Web/Controller.swift:
                class Controller { func render(_ view: String) -> String }
            definition of audit in Sources/Web/Controller.swift:
                extension Controller { func audit(_ event: String) }
            definition of find in Sources/Users/UserRepository.swift:
                final class UserRepository { func find(id: Int) -> User? }
        "#]],
    );
}

#[test]
fn swift_locals_parameters_properties_and_returns_are_their_declared_types() {
    let pad = |text: &str| padded(text, "    step()\n", 45);
    let classes = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    init(db: Database) {}\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/Users/Stores.swift\nfunc openStore(dsn: String) -> UserRepository { UserRepository(db: Database()) }\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n";
    let found = ["find in Sources/Users/UserRepository.swift"];
    let load = |body: &str| {
        format!("{classes}//- Sources/App/Load.swift\nimport Users\n\nfunc load(id: Int) {{\n{body}    $0\n}}\n")
    };
    // Constructed, written (implicitly unwrapped too), or returned by a function, far above the use.
    for local in [
        "    let store = UserRepository(db: db)\n",
        "    let store: UserRepository = lookup()\n",
        "    var store: UserRepository!\n",
        "    let store = openStore(dsn: \"db\")\n",
    ] {
        let text = load(&format!("{local}PAD    let user = store.find(id: id)\n"));
        assert_eq!(definitions_from(&pad(&text)), found, "{local}");
    }
    // A return type through a chain.
    let chained = load("PAD    let user = openStore(dsn: \"db\").find(id: id)\n");
    assert_eq!(definitions_from(&pad(&chained)), ["openStore in Sources/Users/Stores.swift", found[0]]);
    // A method's return type, the method reached through a typed local.
    let through = format!(
        "//- Sources/Users/Registry.swift\nfinal class Registry {{\n    func users() -> UserRepository {{ UserRepository(db: Database()) }}\n}}\n{}",
        load("    let registry: Registry = lookup()\nPAD    let user = registry.users().find(id: id)\n")
    );
    assert_eq!(definitions_from(&pad(&through)), [found[0], "users in Sources/Users/Registry.swift"]);
    // A typed parameter, optional or not.
    for (ty, call) in [("UserRepository", "store.find(id: id)"), ("UserRepository?", "store?.find(id: id)")] {
        let parameter = load(&format!("PAD    let user = {call}\n"))
            .replace("func load(id: Int)", &format!("func load(store: {ty}, id: Int)"));
        assert_eq!(definitions_from(&pad(&parameter)), found, "{ty}");
    }
    // A property of the type around the cursor, with `self.` or without.
    for (property, call) in [
        ("    let store: UserRepository\n", "store.find(id: id)"),
        ("    var store = UserRepository(db: Database())\n", "self.store.find(id: id)"),
    ] {
        let text = format!("{classes}//- Sources/App/Load.swift\nimport Users\n\nstruct Loader {{\n{property}\n    func load(id: Int) {{\nPAD        let user = {call}\n        $0\n    }}\n}}\n");
        assert_eq!(definitions_from(&padded(&text, "        step()\n", 45)), found, "{call}");
    }
    // Untyped, the value's name still ranks.
    let untyped = load("    let store = lookup()\nPAD    let user = store.find(id: id)\n");
    assert_eq!(definitions_from(&pad(&untyped)), ["find in Sources/App/StoreCache.swift"]);
}

#[test]
fn a_kotlin_not_null_assertion_keeps_its_values_type() {
    // `store!!.find(id)` with `store: UserRepository?` is `UserRepository`'s `find`, as
    // `store?.find(id)` is, not the cache's that the name reads like: on a parameter, a
    // property, a function's return and a local assigned one.
    let pad = |text: &str| padded(text, "    step()\n", 45);
    let classes = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/users/Stores.kt\npackage com.acme.users\n\nfun openStore(dsn: String): UserRepository? = null\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun find(key: String): Entry? = null\n}\n";
    let found = ["find in src/main/kotlin/com/acme/users/UserRepository.kt"];
    let load = |body: &str| {
        format!("{classes}//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nimport com.acme.users.UserRepository\n\nfun load(store: UserRepository?, id: Int) {{\n{body}    $0\n}}\n")
    };
    for body in ["PAD    val user = store!!.find(id)\n", "    val sure = store!!\nPAD    val user = sure.find(id)\n"] {
        assert_eq!(definitions_from(&pad(&load(body))), found, "{body}");
    }
    let chained = load("PAD    val user = openStore(\"db\")!!.find(id)\n");
    assert_eq!(definitions_from(&pad(&chained)), ["openStore in src/main/kotlin/com/acme/users/Stores.kt", found[0]]);
    let property = format!("{classes}//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nclass Loader {{\n    private var store: UserRepository? = null\n\n    fun load(id: Int) {{\nPAD        val user = this.store!!.find(id)\n        $0\n    }}\n}}\n");
    assert_eq!(definitions_from(&padded(&property, "        step()\n", 45)), found);
}

#[test]
fn swift_optional_bindings_are_the_bound_values_types() {
    // `if let`, `guard let` and the shorthand `if let store` give `store` the unwrapped type of
    // what they bind (a function's return, a property, the outer parameter), so `store.find()` is
    // `UserRepository`'s, not the cache's that the name reads like.
    let classes = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    init(db: Database) {}\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/Users/Stores.swift\nfunc openStore(dsn: String) -> UserRepository? { nil }\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n";
    let found = ["find in Sources/Users/UserRepository.swift"];
    let load = |signature: &str, body: &str| {
        let text = format!("{classes}//- Sources/App/Load.swift\nimport Users\n\nstruct Loader {{\n    let cached: UserRepository?\n\n    func {signature} {{\n{body}    }}\n}}\n");
        padded(&text, "        step()\n", 45)
    };
    for (signature, body) in [
        ("load(id: Int)", "        if let store = openStore(dsn: \"db\") {\nPAD            let user = store.find(id: id)\n            $0\n        }\n"),
        ("load(id: Int)", "        if let store: UserRepository = lookup(), id > 0 {\nPAD            let user = store.find(id: id)\n            $0\n        }\n"),
        ("load(id: Int)", "        if id > 0, var store = self.cached {\nPAD            let user = store.find(id: id)\n            $0\n        }\n"),
        ("load(id: Int)", "        guard let store = openStore(dsn: \"db\") else { return }\nPAD        let user = store.find(id: id)\n        $0\n"),
        ("load(id: Int)", "        guard let store = cached else {\n            return\n        }\nPAD        let user = store.find(id: id)\n        $0\n"),
        ("load(store: UserRepository?, id: Int)", "        if let store {\nPAD            let user = store.find(id: id)\n            $0\n        }\n"),
    ] {
        assert_eq!(definitions_from(&load(signature, body)), found, "{body}");
    }
    // The shorthand of a property is the property.
    let shorthand = load(
        "load(id: Int)",
        "        if let cached {\nPAD            let user = cached.find(id: id)\n            $0\n        }\n",
    );
    assert_eq!(definitions_from(&shorthand), found);
}

#[test]
fn swift_and_kotlin_loop_elements_are_their_collections_element_type() {
    // `for store in stores` over `[UserRepository]` (Swift) or `List<UserRepository>` (Kotlin):
    // `store.find()` is `UserRepository`'s, not the cache's that the name reads like.
    let swift = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n\
//- Sources/App/Load.swift\nstruct Loader {\n    let all: [UserRepository]\n\n    func load(SIGNATURE) {\n        for store in STORES {\nPAD            let user = store.find(id: id)\n            $0\n        }\n    }\n}\n";
    let found = ["find in Sources/Users/UserRepository.swift"];
    for (signature, stores) in [
        ("stores: [UserRepository], id: Int", "stores"),
        ("stores: Array<UserRepository>, id: Int", "stores"),
        ("id: Int", "all"),
        ("id: Int", "self.all"),
    ] {
        let text = swift.replace("SIGNATURE", signature).replace("STORES", stores);
        assert_eq!(definitions_from(&padded(&text, "            step()\n", 45)), found, "{signature} {stores}");
    }
    let kotlin = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun find(key: String): Entry? = null\n}\n\
//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nclass Loader(private val all: List<UserRepository>) {\n    fun load(SIGNATURE) {\n        for (store in STORES) {\nPAD            val user = store.find(id)\n            $0\n        }\n    }\n}\n";
    let found = ["find in src/main/kotlin/com/acme/users/UserRepository.kt"];
    for (signature, stores) in [
        ("stores: List<UserRepository>, id: Int", "stores"),
        ("stores: MutableList<UserRepository>?, id: Int", "stores"),
        ("id: Int", "this.all"),
    ] {
        let text = kotlin.replace("SIGNATURE", signature).replace("STORES", stores);
        assert_eq!(definitions_from(&padded(&text, "            step()\n", 45)), found, "{signature} {stores}");
    }
}

#[test]
fn a_swift_while_let_binding_above_the_window_is_typed() {
    // `while let store = openStore(…)` fifty lines up: `store.find()` is `UserRepository`'s, as
    // it is near the cursor, not the cache's that the name reads like.
    let text = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/Users/Stores.swift\nfunc openStore(dsn: String) -> UserRepository? { nil }\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n\
//- Sources/App/Load.swift\nimport Users\n\nfunc load(id: Int) {\n    while let store = openStore(dsn: \"db\") {\nPAD        let user = store.find(id: id)\n        $0\n    }\n}\n";
    assert_eq!(definitions_from(&padded(text, "        step()\n", 45)), ["find in Sources/Users/UserRepository.swift"]);
}

#[test]
fn swift_and_kotlin_casts_are_the_cast_types() {
    // `if let store = cached as? UserRepository`, `let store = cached as! UserRepository`,
    // Kotlin's `val store = cached as UserRepository` (or `as?`): `UserRepository`'s `find`, not
    // the cache's that the name reads like.
    let swift = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n\
//- Sources/App/Load.swift\nimport Users\n\nfunc load(cached: Any, id: Int) {\nBODY}\n";
    for body in [
        "    if let store = cached as? UserRepository {\nPAD        let user = store.find(id: id)\n        $0\n    }\n",
        "    guard let store = cached as? UserRepository else { return }\nPAD    let user = store.find(id: id)\n    $0\n",
        "    let store = cached as! UserRepository\nPAD    let user = store.find(id: id)\n    $0\n",
    ] {
        let text = padded(&swift.replace("BODY", body), "    step()\n", 45);
        assert_eq!(definitions_from(&text), ["find in Sources/Users/UserRepository.swift"], "{body}");
    }
    let kotlin = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun find(key: String): Entry? = null\n}\n\
//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nimport com.acme.users.UserRepository\n\nfun load(cached: Any, id: Int) {\nBODY    $0\n}\n";
    for body in [
        "    val store = cached as UserRepository\nPAD    val user = store.find(id)\n",
        "    val store = cached as? UserRepository\nPAD    val user = store?.find(id)\n",
    ] {
        let text = padded(&kotlin.replace("BODY", body), "    step()\n", 45);
        assert_eq!(definitions_from(&text), ["find in src/main/kotlin/com/acme/users/UserRepository.kt"], "{body}");
    }
}

#[test]
fn swift_and_kotlin_pair_loops_bind_the_element_or_the_maps_value() {
    // `for (i, store) in stores.enumerated()`, Kotlin's `for ((i, store) in stores.withIndex())`
    // and `for ((key, store) in byName)` over a `Map<String, UserRepository>`: `store.find()` is
    // `UserRepository`'s, not the cache's that the name reads like.
    let swift = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n\
//- Sources/App/Load.swift\nfunc load(stores: [UserRepository], id: Int) {\n    for (i, store) in stores.enumerated() {\nPAD        let user = store.find(id: id)\n        $0\n    }\n}\n";
    assert_eq!(
        definitions_from(&padded(swift, "        step()\n", 45)),
        ["find in Sources/Users/UserRepository.swift"]
    );
    let kotlin = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun find(key: String): Entry? = null\n}\n\
//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nimport com.acme.users.UserRepository\n\nfun load(SIGNATURE, id: Int) {\n    for (LOOP) {\nPAD        val user = store.find(id)\n        $0\n    }\n}\n";
    for (signature, header) in [
        ("stores: List<UserRepository>", "(i, store) in stores.withIndex()"),
        ("byName: Map<String, UserRepository>", "(name, store) in byName"),
    ] {
        let text = kotlin.replace("SIGNATURE", signature).replace("LOOP", header);
        let found = definitions_from(&padded(&text, "        step()\n", 45));
        assert_eq!(found, ["find in src/main/kotlin/com/acme/users/UserRepository.kt"], "{header}");
    }
}

#[test]
fn typescript_casts_are_the_cast_types() {
    // `const store = cached as UserRepository`, `<UserRepository>cached`, `(cached as
    // UserRepository).find()`, and `new UserRepository(db) satisfies Finder` (the value's own
    // type): `UserRepository`'s `find`, not the cache's that the name reads like.
    let ts = "//- src/users/userRepository.ts\nexport class UserRepository {\n  find(id: number): User | undefined { return undefined; }\n}\n\
//- src/app/storeCache.ts\nexport class StoreCache {\n  find(key: string): Entry | undefined { return undefined; }\n}\n\
//- src/app/load.FILE\nimport { UserRepository } from \"../users/userRepository\";\n\nexport function load(cached: unknown, id: number) {\nBODY  $0\n}\n";
    let cases = [
        ("ts", "  const store = cached as UserRepository;\nPAD  const user = store.find(id);\n"),
        ("tsx", "  const store = cached as UserRepository;\nPAD  const user = store.find(id);\n"),
        ("ts", "  const store = cached as unknown as UserRepository;\nPAD  const user = store.find(id);\n"),
        ("ts", "  const store = <UserRepository>cached;\nPAD  const user = store.find(id);\n"),
        ("ts", "  const store = new UserRepository(db) satisfies Finder;\nPAD  const user = store.find(id);\n"),
    ];
    for (file, body) in cases {
        let text = padded(&ts.replace("FILE", file).replace("BODY", body), "  step();\n", 45);
        assert_eq!(definitions_from(&text), ["find in src/users/userRepository.ts"], "{file}: {body}");
    }
    // A cast beside the cursor names the class, whose summary (with its `find`) comes instead;
    // what its `find` returns is known, so the `save` after it is `User`'s, not the cache's.
    let ts = ts.to_string()
        + "//- src/users/user.ts\nexport class User {\n  save(): void {}\n}\n\
//- src/app/entry.ts\nexport class Entry {\n  save(): void {}\n}\n";
    for body in
        ["PAD  (cached as UserRepository).find(id).save();\n", "PAD  (<UserRepository>cached).find(id).save();\n"]
    {
        let text = padded(&ts.replace("FILE", "ts").replace("BODY", body), "  step();\n", 45);
        assert_eq!(
            definitions_from(&text),
            ["UserRepository in src/users/userRepository.ts", "save in src/users/user.ts"],
            "{body}"
        );
    }
    // `as unknown`, `as const`: no type of the workspace's, so the name's reading decides.
    for body in [
        "  const store = cached as unknown;\nPAD  const user = store.find(id);\n",
        "  const store = cached as const;\nPAD  const user = store.find(id);\n",
    ] {
        let text = padded(&ts.replace("FILE", "ts").replace("BODY", body), "  step();\n", 45);
        assert_eq!(definitions_from(&text), ["find in src/app/storeCache.ts"], "{body}");
    }
}

#[test]
fn csharp_casts_and_pattern_bindings_are_their_types() {
    // `var store = cached as UserRepository;`, `var store = (UserRepository)cached;`, `if (cached
    // is UserRepository store)`, `((UserRepository)cached).Find(id)`: `UserRepository`'s
    // `Find`, not the cache's that the name reads like.
    let csharp = "//- Users/UserRepository.cs\npublic class UserRepository {\n    public User Find(int id) { return null; }\n}\n\
//- App/StoreCache.cs\npublic class StoreCache {\n    public Entry Find(string key) { return null; }\n}\n\
//- App/Loader.cs\nclass Loader {\n    User Load(object cached, int id) {\nBODY    }\n}\n";
    for body in [
        "        var store = cached as UserRepository;\nPAD        var user = store.Find(id);\n        $0\n",
        "        var store = (UserRepository)cached;\nPAD        var user = store.Find(id);\n        $0\n",
        "        if (cached is UserRepository store) {\nPAD            var user = store.Find(id);\n            $0\n        }\n",
    ] {
        let text = padded(&csharp.replace("BODY", body), "        Step();\n", 45);
        assert_eq!(definitions_from(&text), ["Find in Users/UserRepository.cs"], "{body}");
    }
    // A cast beside the cursor names the class, whose summary (with its `Find`) comes instead;
    // what its `Find` returns is known, so the `Save` after it is `User`'s, not the entry's.
    let csharp = csharp.to_string()
        + "//- Users/User.cs\npublic class User {\n    public void Save() {}\n}\n\
//- App/Entry.cs\npublic class Entry {\n    public void Save() {}\n}\n";
    for body in [
        "PAD        ((UserRepository)cached).Find(id).Save();\n        $0\n",
        "PAD        (cached as UserRepository).Find(id).Save();\n        $0\n",
    ] {
        let text = padded(&csharp.replace("BODY", body), "        Step();\n", 45);
        assert_eq!(
            definitions_from(&text),
            ["UserRepository in Users/UserRepository.cs", "Save in Users/User.cs"],
            "{body}"
        );
    }
}

#[test]
fn swift_dictionaries_values_are_their_value_type() {
    // A `[String: UserRepository]` (or `Dictionary<String, UserRepository>`, or one made by
    // `[String: UserRepository]()`): `for (name, store) in byName`, `if let store =
    // byName[key]` and `byName[key]?.find(id:)` reach `UserRepository`'s `find`, not the
    // cache's that the name reads like.
    let swift = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n\
//- Sources/App/Load.swift\nfunc load(PARAMETER, key: String, id: Int) {\nBODY}\n";
    let each = "    for (name, store) in byName {\nPAD        let user = store.find(id: id)\n        $0\n    }\n";
    let cases = [
        ("byName: [String: UserRepository]", each.to_string()),
        ("byName: Dictionary<String, UserRepository>", each.to_string()),
        ("cached: Any", format!("    var byName = [String: UserRepository]()\n{each}")),
        (
            "byName: [String: UserRepository]",
            "    if let store = byName[key] {\nPAD        let user = store.find(id: id)\n        $0\n    }\n".to_string(),
        ),
        ("byName: [String: UserRepository]", "PAD    let user = byName[key]?.find(id: id)\n    $0\n".to_string()),
        // An array made by `[UserRepository]()` holds its elements as a written `[UserRepository]`.
        (
            "cached: Any",
            "    var stores = [UserRepository]()\n    for store in stores {\nPAD        let user = store.find(id: id)\n        $0\n    }\n"
                .to_string(),
        ),
    ];
    for (parameter, body) in cases {
        let text = padded(&swift.replace("PARAMETER", parameter).replace("BODY", &body), "        step()\n", 45);
        assert_eq!(definitions_from(&text), ["find in Sources/Users/UserRepository.swift"], "{parameter}: {body}");
    }
}

#[test]
fn swift_and_kotlin_parenthesised_casts_are_the_cast_types() {
    // `(cached as? UserRepository)?.find(id: id)?.save()`, `(cached as! UserRepository).find(id:
    // id)`, Kotlin's `(cached as UserRepository).find(id)` and `(cached as? UserRepository)?.find(id)`:
    // the cast names the class, whose summary (with its `find`) comes; what its `find` returns is
    // known, so the `save` after it is `User`'s, not the entry's that the directory prefers.
    let swift = "//- Sources/Users/UserRepository.swift\nfinal class UserRepository {\n    func find(id: Int) -> User? { nil }\n}\n\
//- Sources/Users/User.swift\nfinal class User {\n    func save() {}\n}\n\
//- Sources/App/StoreCache.swift\nfinal class StoreCache {\n    func find(key: String) -> Entry? { nil }\n}\n\
//- Sources/App/Entry.swift\nfinal class Entry {\n    func save() {}\n}\n\
//- Sources/App/Load.swift\nimport Users\n\nfunc load(cached: Any, id: Int) {\nPAD    BODY\n    $0\n}\n";
    for body in
        ["(cached as? UserRepository)?.find(id: id)?.save()", "(cached as! UserRepository).find(id: id)?.save()"]
    {
        let text = padded(&swift.replace("BODY", body), "    step()\n", 45);
        assert_eq!(
            definitions_from(&text),
            ["UserRepository in Sources/Users/UserRepository.swift", "save in Sources/Users/User.swift"],
            "{body}"
        );
    }
    let kotlin = "//- src/main/kotlin/com/acme/users/UserRepository.kt\npackage com.acme.users\n\nclass UserRepository(private val db: Database) {\n    fun find(id: Int): User? = null\n}\n\
//- src/main/kotlin/com/acme/users/User.kt\npackage com.acme.users\n\nclass User {\n    fun save() {}\n}\n\
//- src/main/kotlin/com/acme/signup/StoreCache.kt\npackage com.acme.signup\n\nclass StoreCache {\n    fun find(key: String): Entry? = null\n}\n\
//- src/main/kotlin/com/acme/signup/Entry.kt\npackage com.acme.signup\n\nclass Entry {\n    fun save() {}\n}\n\
//- src/main/kotlin/com/acme/signup/Load.kt\npackage com.acme.signup\n\nimport com.acme.users.UserRepository\n\nfun load(cached: Any, id: Int) {\nPAD    BODY\n    $0\n}\n";
    for body in ["(cached as UserRepository).find(id)?.save()", "(cached as? UserRepository)?.find(id)?.save()"] {
        let text = padded(&kotlin.replace("BODY", body), "    step()\n", 45);
        assert_eq!(
            definitions_from(&text),
            [
                "UserRepository in src/main/kotlin/com/acme/users/UserRepository.kt",
                "save in src/main/kotlin/com/acme/users/User.kt"
            ],
            "{body}"
        );
    }
}

#[test]
fn csharp_property_patterns_and_switch_labels_bind_their_types() {
    // `cached is UserRepository { Open: true } store`, a switch statement's `case UserRepository
    // store:` (also with a property pattern or a `when`), and a switch expression's arm
    // `UserRepository store => …`: `store` is a `UserRepository`, not the cache the name reads like.
    let csharp = "//- Users/UserRepository.cs\npublic class UserRepository {\n    public bool Open { get; }\n    public User Find(int id) { return null; }\n}\n\
//- Users/User.cs\npublic class User {\n    public void Save() {}\n}\n\
//- App/StoreCache.cs\npublic class StoreCache {\n    public Entry Find(string key) { return null; }\n}\n\
//- App/Entry.cs\npublic class Entry {\n    public void Save() {}\n}\n\
//- App/Loader.cs\nclass Loader {\n    User Load(object cached, int id) {\nBODY    }\n}\n";
    let case = |label: &str| {
        format!("        switch (cached) {{\n            {label}\nPAD                var user = store.Find(id);\n                $0\n                break;\n        }}\n")
    };
    for body in [
        "        if (cached is UserRepository { Open: true } store) {\nPAD            var user = store.Find(id);\n            $0\n        }\n".to_string(),
        case("case UserRepository store:"),
        case("case UserRepository { Open: true } store:"),
        case("case UserRepository store when store.Open:"),
    ] {
        let text = padded(&csharp.replace("BODY", &body), "        Step();\n", 45);
        assert_eq!(definitions_from(&text), ["Find in Users/UserRepository.cs"], "{body}");
    }
    // Beside the cursor the class's summary comes, and the `Save` after its `Find` is `User`'s.
    for body in [
        "PAD        if (cached is UserRepository { Open: true } store) store.Find(id).Save();\n        $0\n",
        "PAD        var user = cached switch {\n            UserRepository store => store.Find(id).Save(),\n            _ => null,\n        };\n        $0\n",
    ] {
        let text = padded(&csharp.replace("BODY", body), "        Step();\n", 45);
        assert_eq!(
            definitions_from(&text),
            ["UserRepository in Users/UserRepository.cs", "Save in Users/User.cs"],
            "{body}"
        );
    }
}

#[test]
fn python_casts_and_isinstance_tests_are_their_types() {
    // `repo = cast(UserRepository, store)`, `typing.cast(…)`, and `store` in the body of `if
    // isinstance(store, UserRepository):` (or an `elif`, or a term of an `and`) or after `assert
    // isinstance(…)`: `UserRepository`'s `find`, not the cache's the directory prefers.
    let python = "//- app/users/repo.py\nclass UserRepository:\n    def find(self, id) -> User:\n        return None\n\
//- app/users/user.py\nclass User:\n    def save(self):\n        pass\n\
//- app/signup/cache.py\nclass StoreCache:\n    def find(self, key) -> Entry:\n        return None\n\
//- app/signup/entry.py\nclass Entry:\n    def save(self):\n        pass\n\
//- app/signup/load.py\nimport typing\nfrom typing import cast\nfrom app.users.repo import UserRepository\n\ndef load(store, id):\nBODY";
    for body in [
        "    repo = cast(UserRepository, store)\nPAD    repo.find(id)\n    $0\n    return None\n",
        "    store = typing.cast(UserRepository, store)\nPAD    store.find(id)\n    $0\n    return None\n",
        "    if isinstance(store, UserRepository):\nPAD        store.find(id)\n        $0\n        return None\n",
        "    if store is None:\n        return\n    elif isinstance(store, UserRepository):\nPAD        store.find(id)\n        $0\n        return None\n",
        "    while store and isinstance(store, UserRepository):\nPAD        store.find(id)\n        $0\n        return None\n",
        "    assert isinstance(store, UserRepository)\nPAD    store.find(id)\n    $0\n    return None\n",
    ] {
        // The padding is as deep as the cursor's block.
        let indent = body.rsplit('\n').nth(1).map_or(0, |l| l.len() - l.trim_start().len());
        let text = padded(&python.replace("BODY", body), &format!("{}step()\n", " ".repeat(indent)), 45);
        assert_eq!(definitions_from(&text), ["find in app/users/repo.py"], "{body}");
    }
    // Beside the cursor the class's summary comes, and the `save` after its `find` is `User`'s.
    let text = padded(
        &python.replace("BODY", "PAD    cast(UserRepository, store).find(id).save()\n    $0\n    return None\n"),
        "    step()\n",
        45,
    );
    assert_eq!(definitions_from(&text), ["UserRepository in app/users/repo.py", "save in app/users/user.py"]);
    // An `else` is where the test failed, and a `not isinstance(…)` says nothing of the type.
    for body in [
        "    if isinstance(store, UserRepository):\n        pass\n    else:\nPAD        store.find(id)\n        $0\n        return None\n",
        "    if not isinstance(store, UserRepository):\nPAD        store.find(id)\n        $0\n        return None\n",
    ] {
        let text = padded(&python.replace("BODY", body), "        step()\n", 45);
        assert_eq!(definitions_from(&text), ["find in app/signup/cache.py"], "{body}");
    }
}

#[test]
fn java_patterns_and_casts_are_their_types() {
    // `cached instanceof UserRepository store`, `var store = (UserRepository) cached;` and a
    // switch's `case UserRepository store ->` or `case UserRepository store:`: `store` is a
    // `UserRepository`, not the cache the name reads like.
    let java = "//- src/users/UserRepository.java\npublic class UserRepository {\n    public User find(int id) { return null; }\n}\n\
//- src/app/StoreCache.java\npublic class StoreCache {\n    public Entry find(String key) { return null; }\n}\n\
//- src/app/Loader.java\nclass Loader {\n    User load(Object cached, int id) {\nBODY    }\n}\n";
    for body in [
        "        if (cached instanceof UserRepository store) {\nPAD            var user = store.find(id);\n            $0\n        }\n",
        "        var store = (UserRepository) cached;\nPAD        var user = store.find(id);\n        $0\n",
        "        switch (cached) {\n            case UserRepository store -> {\nPAD                var user = store.find(id);\n                $0\n            }\n            default -> {}\n        }\n",
        "        switch (cached) {\n            case UserRepository store:\nPAD                var user = store.find(id);\n                $0\n                break;\n        }\n",
    ] {
        let text = padded(&java.replace("BODY", body), "        step();\n", 45);
        assert_eq!(definitions_from(&text), ["find in src/users/UserRepository.java"], "{body}");
    }
    // A cast beside the cursor names the class, whose summary (with its `find`) comes instead;
    // what its `find` returns is known, so the `save` after it is `User`'s, not the entry's.
    let java = java.to_string()
        + "//- src/users/User.java\npublic class User {\n    public void save() {}\n}\n\
//- src/app/Entry.java\npublic class Entry {\n    public void save() {}\n}\n";
    let body = "PAD        ((UserRepository) cached).find(id).save();\n        $0\n";
    let text = padded(&java.replace("BODY", body), "        step();\n", 45);
    assert_eq!(
        definitions_from(&text),
        ["UserRepository in src/users/UserRepository.java", "save in src/users/User.java"]
    );
}

#[test]
fn typescript_instanceof_narrows_the_if_body() {
    // `if (store instanceof UserRepository) { … }` (or a term of an `&&`): `store.find()` in the
    // body is `UserRepository`'s, not the cache's the directory prefers; in the `else` it is not.
    let ts = "//- src/users/userRepository.ts\nexport class UserRepository {\n  find(id: number): User | undefined { return undefined; }\n}\n\
//- src/app/storeCache.ts\nexport class StoreCache {\n  find(key: string): Entry | undefined { return undefined; }\n}\n\
//- src/app/load.ts\nimport { UserRepository } from \"../users/userRepository\";\n\nexport function load(store: unknown, id: number) {\nBODY}\n";
    for (body, found) in [
        (
            "  if (store instanceof UserRepository) {\nPAD    const user = store.find(id);\n    $0\n  }\n",
            "find in src/users/userRepository.ts",
        ),
        (
            "  if (store && store instanceof UserRepository) {\nPAD    const user = store.find(id);\n    $0\n  }\n",
            "find in src/users/userRepository.ts",
        ),
        (
            "  if (store instanceof UserRepository) {\n    step();\n  } else {\nPAD    const user = store.find(id);\n    $0\n  }\n",
            "find in src/app/storeCache.ts",
        ),
    ] {
        let text = padded(&ts.replace("BODY", body), "    step();\n", 45);
        assert_eq!(definitions_from(&text), [found], "{body}");
    }
}
