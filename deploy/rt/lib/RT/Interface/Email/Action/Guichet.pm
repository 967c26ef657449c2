package RT::Interface::Email::Action::Guichet;

# The `guichet` action of RT's mail gateway: reads Guichet's sync mail (its
# `Submit` and `Modify` instructions, in the label-value format of BMC
# Remedy's Email Engine, docs/itsm-sync.md §2 and §3) into RT tickets.
#
#   | rt-mailgate --queue Guichet --action guichet --url http://rt.example/
#
# - Every `Key` in the mail must be $GuichetKey (RT_SiteConfig); anything
#   else is refused before any other label is read, and RT's owner is told.
# - `Action: Submit` creates a ticket in the gateway's queue: `Description`
#   is its subject, `Detailed_Decription` its first message, the sender its
#   requestor, `Vendor Ticket Number` its custom field of that name.
# - `Action: Modify` changes the ticket `Request ID` names (which must be
#   one of the queue's, created by a Submit): the work info becomes a
#   correspondence (`Public`) or a comment (`Internal`), `Resolution` the
#   custom field of that name, and `Status` the ticket's status by
#   %GuichetStatusIn (Remedy's values -> RT's).
#
# Changes are made as RT's system user, in one transaction batch per mail,
# so that the queue's batch scrip sends one notification for the mail.
# The transactions are made from the proven values, not from the incoming
# mail, which Guichet marks `Auto-Submitted`: RT's squelch of replies to
# automatic mail (`RT-Squelch-Replies-To`) does not apply to them.

use strict;
use warnings;

use Role::Basic 'with';
with 'RT::Interface::Email::Role';

use Digest::SHA qw(sha256);
use Encode ();
use MIME::Entity;
use RT::Interface::Email;

my %DEFAULT_STATUS_IN = (
    'new'         => 'new',
    'assigned'    => 'open',
    'in progress' => 'open',
    'pending'     => 'stalled',
    'resolved'    => 'resolved',
    'closed'      => 'resolved',
    'cancelled'   => 'rejected',
);

# The action is authorised by the shared key, checked in HandleGuichet.
sub CheckACL {
    my %args = (Action => undef, @_);
    return (lc($args{Action} // '') eq 'guichet') ? 1 : undef;
}

sub HandleGuichet {
    my %args = (
        Message => undef,
        Queue   => undef,
        Subject => undef,
        @_,
    );
    my $pairs = Pairs( PlainText( $args{Message} ) );
    unless ($pairs) {
        Refuse( $args{Subject}, "a multi-line value is never closed" );
    }
    CheckKey( $pairs, $args{Subject} );
    my $action = lc( Value( $pairs, 'action' ) // '' );
    if ( $action eq 'submit' ) {
        return Submit( $pairs, %args );
    }
    if ( $action eq 'modify' ) {
        return Modify( $pairs, %args );
    }
    Refuse( $args{Subject}, "no Action: Submit or Action: Modify" );
}

# The mail's text/plain part, decoded.
sub PlainText {
    my $entity = shift;
    my @parts  = $entity->parts_DFS;
    for my $part (@parts) {
        next if $part->is_multipart;
        my $type = $part->effective_type // 'text/plain';
        next unless $type eq 'text/plain';
        my $body = $part->bodyhandle or next;
        my $charset = $part->head->mime_attr('content-type.charset') || 'UTF-8';
        my $text = eval { Encode::decode( $charset, $body->as_string ) };
        return $text // $body->as_string;
    }
    return '';
}

# The label-value pairs of a text (docs/itsm-sync.md §2): `Label: value`,
# `!Field!: value`, multi-line values in `[$$ … $$]`. Labels are lower-cased
# with their runs of blanks folded; each keeps every value given. undef
# when a multi-line block is never closed.
sub Pairs {
    my $text  = shift;
    my @lines = split /\r\n|\r|\n/, $text, -1;
    my %pairs;
    while ( defined( my $line = shift @lines ) ) {
        my ( $label, $value );
        if ( $line =~ /^[^:]*?!([^!:]+)!\s*:(.*)$/ ) {
            ( $label, $value ) = ( $1, $2 );
        }
        elsif ( $line =~ /^\s*([^:!>\s][^:!]*?)\s*:(.*)$/ ) {
            ( $label, $value ) = ( $1, $2 );
        }
        else {
            next;
        }
        if ( $value =~ /^\s*\[\$\$(.*)$/ ) {
            my $block = $1;
            until ( $block =~ /\$\$\]/ ) {
                my $next = shift @lines;
                return undef unless defined $next;
                $block .= "\n$next";
            }
            ($value) = $block =~ /^(.*?)\$\$\]/s;
        }
        else {
            $value =~ s/^\s+|\s+$//g;
        }
        $label = lc $label;
        $label =~ s/\s+/ /g;
        $label =~ s/^ | $//g;
        push @{ $pairs{$label} }, $value;
    }
    return \%pairs;
}

# The first non-empty value of a label.
sub Value {
    my ( $pairs, $label ) = @_;
    for my $value ( @{ $pairs->{$label} || [] } ) {
        return $value if defined $value && length $value;
    }
    return undef;
}

# Every `Key` must be the shared key, compared on digests.
sub CheckKey {
    my ( $pairs, $subject ) = @_;
    my $key = RT->Config->Get('GuichetKey');
    unless ( defined $key && length $key >= 32 ) {
        Refuse( $subject, "\$GuichetKey is not set (at least 32 characters)" );
    }
    my @given = @{ $pairs->{key} || [] };
    my $ok    = @given > 0;
    for my $given (@given) {
        $ok = 0 unless sha256( Encode::encode( 'UTF-8', $given ) ) eq sha256($key);
    }
    Refuse( $subject, "missing or wrong Key" ) unless $ok;
}

sub Refuse {
    my ( $subject, $why ) = @_;
    $subject //= '';
    MailError(
        Subject     => "Guichet sync mail refused: $subject",
        Explanation => "Guichet sync mail refused: $why",
        FAILURE     => 1,
    );
}

sub VendorField {
    my $queue = shift;
    my $cf    = RT::CustomField->new( RT->SystemUser );
    $cf->LoadByName(
        Name          => 'Vendor Ticket Number',
        LookupType    => RT::Ticket->CustomFieldLookupType,
        ObjectId      => $queue->id,
        IncludeGlobal => 1,
    );
    return $cf;
}

sub Submit {
    my ( $pairs, %args ) = @_;
    my $queue  = $args{Queue};
    my $vendor = Value( $pairs, 'vendor ticket number' );
    Refuse( $args{Subject}, "Submit without Vendor Ticket Number" ) unless $vendor;
    my $cf = VendorField($queue);
    Refuse( $args{Subject}, "no custom field Vendor Ticket Number on queue " . $queue->Name )
        unless $cf->id;
    my ($requestor) = RT::Interface::Email::ParseSenderAddressFromHead( $args{Message}->head );
    my $summary = Value( $pairs, 'description' ) // $args{Subject};
    my $details = Value( $pairs, 'detailed_decription' ) // $summary;
    my %priority = ( 1 => 90, 2 => 70, 3 => 50, 4 => 30 );
    my ($urgency) = ( Value( $pairs, 'urgency' ) // '' ) =~ /^(\d)/;
    my $ticket = RT::Ticket->new( RT->SystemUser );
    my ( $id, undef, $msg ) = $ticket->Create(
        Queue                  => $queue->id,
        Subject                => $summary,
        Requestor              => [$requestor],
        MIMEObj                => Message($details),
        Priority               => $priority{ $urgency // 3 } // 50,
        'CustomField-' . $cf->id => $vendor,
    );
    Refuse( $args{Subject}, "ticket not created: $msg" ) unless $id;
    $RT::Logger->info("Guichet: ticket $id created for $vendor");
    return;
}

sub Modify {
    my ( $pairs, %args ) = @_;
    my $id = Value( $pairs, 'request id' ) // '';
    Refuse( $args{Subject}, "Modify without a Request ID" ) unless $id =~ /^\d+$/;
    my $ticket = RT::Ticket->new( RT->SystemUser );
    $ticket->Load($id);
    unless ( $ticket->id
        && $ticket->QueueObj->id == $args{Queue}->id
        && length( $ticket->FirstCustomFieldValue('Vendor Ticket Number') // '' ) )
    {
        Refuse( $args{Subject}, "Request ID $id is not a Guichet ticket of this queue" );
    }
    # One transaction batch: the queue's batch scrip notifies once.
    $ticket->Atomic( sub { Apply( $ticket, $pairs ) } );
    return;
}

# The work info, the resolution, then the status (a correspondence would
# reopen a ticket the same Modify resolves).
sub Apply {
    my ( $ticket, $pairs ) = @_;
    my $id = $ticket->id;
    if ( defined( my $notes = Value( $pairs, 'z1d_details' ) ) ) {
        my $public = lc( Value( $pairs, 'z1d_view_access' ) // '' ) eq 'public';
        my $method = $public ? 'Correspond' : 'Comment';
        my ( $ok, $msg ) = $ticket->$method( MIMEObj => Message($notes) );
        $RT::Logger->error("Guichet: $method on $id: $msg") unless $ok;
    }
    if ( defined( my $resolution = Value( $pairs, 'resolution' ) ) ) {
        my ( $ok, $msg ) = $ticket->AddCustomFieldValue( Field => 'Resolution', Value => $resolution );
        $RT::Logger->error("Guichet: Resolution on $id: $msg") unless $ok;
    }
    if ( defined( my $status = Value( $pairs, 'status' ) ) ) {
        my %map = %{ RT->Config->Get('GuichetStatusIn') || \%DEFAULT_STATUS_IN };
        my $to  = $map{ lc $status };
        if ( !defined $to ) {
            $RT::Logger->error("Guichet: status $status has no RT status; not applied to $id");
        }
        elsif ( $ticket->Status ne $to ) {
            my ( $ok, $msg ) = $ticket->SetStatus($to);
            $RT::Logger->error("Guichet: status $to on $id: $msg") unless $ok;
        }
    }
}

# A text/plain message holding `text`.
sub Message {
    my $text = shift;
    return MIME::Entity->build(
        Type     => 'text/plain',
        Charset  => 'UTF-8',
        Encoding => 'quoted-printable',
        Data     => [ Encode::encode( 'UTF-8', $text ) ],
    );
}

1;
