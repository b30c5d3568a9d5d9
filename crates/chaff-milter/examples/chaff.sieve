# Dovecot Sieve (Pigeonhole): file mail by chaff-milter's headers.
# Global: sieve_before = /etc/dovecot/sieve/chaff.sieve (then sievec it); or per user.
require ["fileinto", "mailbox", "variables", "envelope"];

# Several recipients: each one's own verdict is in "X-Chaff-Recipient: <user> flag=... category=...".
if envelope :matches "to" "*" {
  set :lower "rcpt" "${1}";
}
if header :matches "X-Chaff-Recipient" "<${rcpt}> flag=YES *" {
  fileinto :create "Spam";
  stop;
}
if header :matches "X-Chaff-Recipient" "<${rcpt}> flag=NO *" {
  # This recipient's verdict is ham even if the message-wide flag says otherwise.
  if header :matches "X-Chaff-Recipient" "<${rcpt}> * category=newsletter *" {
    fileinto :create "Newsletters"; stop;
  }
  if header :matches "X-Chaff-Recipient" "<${rcpt}> * category=notification *" {
    fileinto :create "Notifications"; stop;
  }
  keep; stop;
}

# One recipient (or recipient_headers = false): the message-wide fields.
if header :is "X-Spam-Flag" "YES" {
  fileinto :create "Spam";
  stop;
}
if header :is "X-Chaff-Category" "newsletter" {
  fileinto :create "Newsletters";
  stop;
}
if header :is "X-Chaff-Category" "notification" {
  fileinto :create "Notifications";
  stop;
}
