using System.Buffers.Binary;
using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.Tests.Security;

public class EncryptionTests
{
    public static TheoryData<SmbCipher> Ciphers => [SmbCipher.Aes128Ccm, SmbCipher.Aes128Gcm, SmbCipher.Aes256Ccm, SmbCipher.Aes256Gcm];

    private static (Smb3Cipher Client, Smb3Cipher Server) Pair(CipherId cipher)
    {
        var c2s = RandomNumberGenerator.GetBytes(Smb3Cipher.KeySize(cipher));
        var s2c = RandomNumberGenerator.GetBytes(Smb3Cipher.KeySize(cipher));
        return (new Smb3Cipher(cipher, c2s, s2c), new Smb3Cipher(cipher, s2c, c2s));
    }

    private static byte[] Encrypt(Smb3Cipher cipher, ulong sessionId, byte[] plain)
    {
        var message = new byte[Smb3Cipher.Overhead + plain.Length];
        cipher.Encrypt(sessionId, plain, message);
        return message;
    }

    [Theory]
    [MemberData(nameof(Ciphers))]
    public void EncryptThenDecrypt_EachCipher_RoundTripsWithSpecHeader(SmbCipher cipherId)
    {
        var id = (CipherId)cipherId;
        var (client, server) = Pair(id);
        using var _ = client;
        using var __ = server;
        var plain = RandomNumberGenerator.GetBytes(1000);
        var message = Encrypt(client, 0x1122334455667788, plain);

        Assert.Equal(Smb2TransformHeader.ProtocolIdValue, BinaryPrimitives.ReadUInt32LittleEndian(message));
        Assert.Equal(1000u, BinaryPrimitives.ReadUInt32LittleEndian(message.AsSpan(36)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(42)));
        Assert.Equal(0x1122334455667788UL, BinaryPrimitives.ReadUInt64LittleEndian(message.AsSpan(44)));
        // Nonce: 11 bytes for CCM, 12 for GCM; the rest of the 16-byte field is zero.
        var used = id is CipherId.Aes128Gcm or CipherId.Aes256Gcm ? 12 : 11;
        Assert.All(message.AsSpan(20 + used, 16 - used).ToArray(), b => Assert.Equal(0, b));
        Assert.False(message.AsSpan(52).SequenceEqual(plain), "the body is not plaintext");

        var back = new byte[plain.Length];
        server.Decrypt(message, back);
        Assert.Equal(plain, back);
    }

    [Theory]
    [MemberData(nameof(Ciphers))]
    public void Decrypt_AnyByteFlipped_IsProtocolError(SmbCipher cipherId)
    {
        var id = (CipherId)cipherId;
        var (client, server) = Pair(id);
        using var _ = client;
        using var __ = server;
        var plain = RandomNumberGenerator.GetBytes(200);
        var message = Encrypt(client, 7, plain);
        // Every byte of the tag, nonce, AAD fields and a sample of the ciphertext.
        foreach (var i in Enumerable.Range(4, 48).Concat([52, 100, message.Length - 1]))
        {
            var bad = (byte[])message.Clone();
            bad[i] ^= 0x01;
            Assert.Throws<SmbProtocolException>(() => server.Decrypt(bad, new byte[plain.Length]));
        }
    }

    [Fact]
    public void Decrypt_WrongKeyDirection_IsProtocolError()
    {
        var (client, server) = Pair(CipherId.Aes128Gcm);
        using var _ = client;
        using var __ = server;
        var message = Encrypt(client, 7, new byte[80]);
        // The client's own decryption key is the server's encryption key: its own message must not verify.
        Assert.Throws<SmbProtocolException>(() => client.Decrypt(message, new byte[80]));
    }

    [Fact]
    public void Encrypt_ManyMessages_NoncesNeverRepeat()
    {
        var (client, _) = Pair(CipherId.Aes128Ccm);
        var seen = new HashSet<string>();
        for (var i = 0; i < 10_000; i++)
        {
            var message = Encrypt(client, 1, new byte[70]);
            Assert.True(seen.Add(Convert.ToHexString(message, 20, 16)));
        }
    }

    [Fact]
    public void TransformHeader_TruncatedOrBadFlags_IsProtocolError()
    {
        Assert.Throws<SmbProtocolException>(() => Smb2TransformHeader.ReadFrom(new byte[51]));
        var (client, server) = Pair(CipherId.Aes128Gcm);
        var message = Encrypt(client, 1, new byte[70]);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(42), 2);
        Assert.Throws<SmbProtocolException>(() => server.Decrypt(message, new byte[70]));
        var wrongSize = Encrypt(client, 1, new byte[70]);
        BinaryPrimitives.WriteUInt32LittleEndian(wrongSize.AsSpan(36), 69);
        Assert.Throws<SmbProtocolException>(() => server.Decrypt(wrongSize, new byte[70]));
    }

    /// <summary>
    /// Independent check of the construction (MS-SMB2 §3.1.4.3) with the framework's AES-GCM directly:
    /// tag over AAD = header bytes 20..51, nonce = the first 12 bytes of the Nonce field.
    /// </summary>
    [Fact]
    public void Encrypt_Gcm_MatchesDirectAesGcmOverSpecAad()
    {
        var key = RandomNumberGenerator.GetBytes(16);
        using var cipher = new Smb3Cipher(CipherId.Aes128Gcm, key, key);
        var plain = RandomNumberGenerator.GetBytes(64);
        var message = Encrypt(cipher, 42, plain);
        using var gcm = new AesGcm(key, 16);
        var back = new byte[64];
        gcm.Decrypt(message.AsSpan(20, 12), message.AsSpan(52), message.AsSpan(4, 16), back, message.AsSpan(20, 32));
        Assert.Equal(plain, back);
    }

    [Fact]
    public void ToString_ShowsNoKeyMaterial()
    {
        var key = new byte[16];
        key.AsSpan().Fill(0xAB);
        using var cipher = new Smb3Cipher(CipherId.Aes128Ccm, key, key);
        Assert.DoesNotContain("AB", cipher.ToString());
    }
}
