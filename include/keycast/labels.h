// Domain-separation labels. Every HKDF derivation, AEAD associated data and
// signature in Keycast starts with one of these, so no two uses of a key can
// be confused. Each label is versioned; changing a derivation means a new label.
#pragma once

#include <string_view>

namespace keycast::labels {

// Sealing secrets at rest under the key-encryption key (KEK).
inline constexpr std::string_view kSealAtRest = "keycast v1 seal at rest";
// Ticket signature (Ed25519) over the ticket body.
inline constexpr std::string_view kTicketSignature = "keycast v1 ticket signature";
// AEAD associated data of the ticket part sealed for the key service.
inline constexpr std::string_view kTicketSealedPart = "keycast v1 ticket sealed part";
// Interval key k of an event, from the event secret.
inline constexpr std::string_view kIntervalKey = "keycast v1 interval key";
// SPI of interval k of an event, from the event secret.
inline constexpr std::string_view kIntervalSpi = "keycast v1 interval spi";
// A sender's Ed25519 signing key for one interval, from the event secret
// (source authentication; docs/key-protocol.md).
inline constexpr std::string_view kSenderSigningKey = "keycast v1 sender signing key";
// Signature of a packet manifest (docs/packet-format.md).
inline constexpr std::string_view kPacketManifest = "keycast v1 packet manifest";
// Key request authenticator (client -> key service) under the session key.
inline constexpr std::string_view kKeyRequestAuth = "keycast v1 key request";
// Key reply encryption (key service -> client) under the session key.
inline constexpr std::string_view kKeyReply = "keycast v1 key reply";
// Server-initiated wakeup MAC under the session key.
inline constexpr std::string_view kWakeup = "keycast v1 wakeup";
// Multicast rekey push signature.
inline constexpr std::string_view kRekeyPush = "keycast v1 rekey push";
// LKH node key wrapping.
inline constexpr std::string_view kLkhWrap = "keycast v1 lkh wrap";
// Ephemeral secure channel (seed 004).
inline constexpr std::string_view kChannelConfirm = "keycast v1 channel confirm";
inline constexpr std::string_view kChannelDataKey = "keycast v1 channel data key";
inline constexpr std::string_view kChannelSharedParam = "keycast v1 channel shared parameter";

}  // namespace keycast::labels
