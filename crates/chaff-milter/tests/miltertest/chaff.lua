-- miltertest (OpenDKIM's milter test client) against chaff-milter: an independent MTA-side
-- implementation of the protocol. Run: miltertest -D sock=inet:PORT@127.0.0.1 -s chaff.lua
-- Covers: negotiation, macros, every callback, header additions, GTUBE 550 reply, abort
-- mid-message and several messages on one connection.
local sock = sock or "inet:2592@127.0.0.1"

local function expect(cond, msg)
  if not cond then mt.echo("not ok - " .. msg); error("FAIL: " .. msg) end
  mt.echo("ok - " .. msg)
end

-- Steps the milter negotiated away (none today) are skipped; no-reply steps return no reply.
local function step(conn, opt, what, f)
  if mt.test_option(conn, opt) then return end
  expect(f() == nil, what)
end

local function headers(conn, subject, body)
  step(conn, SMFIP_NOHDRS, "header From", function() return mt.header(conn, "From", "Alice <alice@example.org>") end)
  step(conn, SMFIP_NOHDRS, "header To", function() return mt.header(conn, "To", "Bob <bob@example.com>") end)
  step(conn, SMFIP_NOHDRS, "header Subject", function() return mt.header(conn, "Subject", subject) end)
  step(conn, SMFIP_NOHDRS, "header Date", function() return mt.header(conn, "Date", "Fri, 27 Nov 2026 23:00:00 +0000") end)
  step(conn, SMFIP_NOEOH, "eoh", function() return mt.eoh(conn) end)
  step(conn, SMFIP_NOBODY, "body", function() return mt.bodystring(conn, body) end)
end

local function envelope(conn, from)
  mt.macro(conn, SMFIC_MAIL, "i", "MT0001", "{mail_addr}", from)
  step(conn, SMFIP_NOMAIL, "envfrom", function() return mt.mailfrom(conn, "<" .. from .. ">") end)
  step(conn, SMFIP_NORCPT, "envrcpt", function() return mt.rcptto(conn, "<bob@example.com>") end)
end

local GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"
local LUNCH = "Hi Bob,\r\nare we still on for lunch on Thursday? I can book the usual place.\r\nAlice\r\n"

local function main()
  local conn = mt.connect(sock, 20, 0.25)
  expect(conn ~= nil, "connect " .. sock)
  expect(mt.negotiate(conn, nil, nil, nil) == nil, "negotiate")
  mt.macro(conn, SMFIC_CONNECT, "j", "mx.example", "{client_addr}", "192.0.2.7")
  step(conn, SMFIP_NOCONNECT, "conninfo", function() return mt.conninfo(conn, "client.example", "192.0.2.7") end)
  step(conn, SMFIP_NOHELO, "helo", function() return mt.helo(conn, "client.example") end)

  -- 1. clean: accepted with the verdict headers
  envelope(conn, "alice@example.org")
  headers(conn, "lunch", LUNCH)
  expect(mt.eom(conn) == nil, "clean: eom")
  local r = mt.getreply(conn)
  expect(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "clean: accepted")
  expect(mt.eom_check(conn, MT_HDRADD, "X-Spam-Flag"), "clean: X-Spam-Flag added")
  expect(mt.eom_check(conn, MT_HDRADD, "X-Chaff-Category"), "clean: X-Chaff-Category added")
  local v = mt.getheader(conn, "X-Spam-Status", 0)
  mt.echo("   X-Spam-Status:" .. tostring(v))
  expect(v ~= nil and string.find(v, "No, score=") ~= nil, "clean: X-Spam-Status says No")

  -- 2. GTUBE on the same connection: 550 5.7.1
  envelope(conn, "x@example.net")
  headers(conn, "test", GTUBE)
  expect(mt.eom(conn) == nil, "gtube: eom")
  expect(mt.getreply(conn) == SMFIR_REPLYCODE, "gtube: reply code")
  expect(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "GTUBE test message rejected"),
         "gtube: 550 5.7.1 GTUBE test message rejected")

  -- 3. GTUBE aborted mid-message, then a clean message: accepted
  envelope(conn, "x@example.net")
  headers(conn, "test", GTUBE)
  expect(mt.abort(conn) == nil, "abort")
  envelope(conn, "alice@example.org")
  headers(conn, "lunch again", LUNCH)
  expect(mt.eom(conn) == nil, "after abort: eom")
  r = mt.getreply(conn)
  expect(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "after abort: accepted")
  expect(mt.disconnect(conn) == nil, "disconnect")
end

local ok, err = pcall(main)
if not ok then mt.echo("ERROR: " .. tostring(err)); error(err) end
mt.echo("ALL OK")
