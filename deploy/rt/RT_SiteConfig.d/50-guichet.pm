# Request Tracker 5 as the academy's ITSM for Guichet (deploy/rt/README.md,
# docs/itsm-sync.md §3.7). Copy into /etc/request-tracker5/RT_SiteConfig.d/
# and the plugin deploy/rt/lib/RT/Interface/Email/Action/Guichet.pm into
# /usr/local/share/request-tracker5/lib/RT/Interface/Email/Action/.

# The mail gateway's `guichet` action (rt-mailgate --action guichet) reads
# Guichet's Submit and Modify instructions; Auth::MailFrom stays first.
Set(@MailPlugins, qw(Auth::MailFrom Action::Guichet));

# The key shared with Guichet (its [[sync.partners]] key): at least 32
# characters, e.g. `openssl rand -hex 32`. Keep it out of this file on a
# real site: a file of mode 0600 in RT_SiteConfig.d holding only
#   Set($GuichetKey, '…');
# Every Guichet mail must carry it; every notification to Guichet carries it.
# Set($GuichetKey, '');

# Remedy's statuses in Guichet's Modify mails -> RT's (the default, shown
# here to be changed with the site's lifecycle):
# Set(%GuichetStatusIn,
#     'new'         => 'new',
#     'assigned'    => 'open',
#     'in progress' => 'open',
#     'pending'     => 'stalled',
#     'resolved'    => 'resolved',
#     'closed'      => 'resolved',
#     'cancelled'   => 'rejected',
# );

1;
