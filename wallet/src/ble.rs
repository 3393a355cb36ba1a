//! BLE transport for the wallet: a GATT peripheral server through BlueZ, with ISO 18013-5's
//! peripheral-server characteristic roles under the engagement's service UUID: state
//! (`00000001-A123-48CE-896B-4C76973373E6`), client-to-server (`...02...`), server-to-client
//! (`...03...`, notifications). Built with the `ble` feature; tested on hardware only (see
//! README, "Bluetooth LE on two machines"). Only serving is here: chunks go in and out
//! through [`GattLink`], the link the gate uses too.

use crate::{Result, WalletError};
use bluer::adv::Advertisement;
use bluer::gatt::local::{
    characteristic_control, Application, Characteristic, CharacteristicControlEvent,
    CharacteristicNotify, CharacteristicNotifyMethod, CharacteristicWrite,
    CharacteristicWriteMethod, Service,
};
use bluer::Uuid;
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tuaton_cli::ble::{GattLink, Role, CLIENT_TO_SERVER, SERVER_TO_CLIENT, STATE};

fn io(e: impl std::fmt::Display) -> WalletError {
    WalletError::Transport {
        what: "Bluetooth LE".into(),
        reason: e.to_string(),
    }
}

/// Advertises `service` and waits (up to `wait`) for one gate to subscribe to
/// server-to-client notifications and open client-to-server writes.
pub fn serve(service: [u8; 16], wait: Duration) -> Result<GattLink> {
    tuaton_cli::ble::open(io, |adapter| async move {
        let uuid = Uuid::from_bytes(service);
        let adv = adapter
            .advertise(Advertisement {
                service_uuids: [uuid].into_iter().collect(),
                discoverable: Some(true),
                local_name: Some("tuaton".into()),
                ..Default::default()
            })
            .await
            .map_err(io)?;
        let (c2s_control, c2s_handle) = characteristic_control();
        let (s2c_control, s2c_handle) = characteristic_control();
        let app = Application {
            services: vec![Service {
                uuid,
                primary: true,
                characteristics: vec![
                    Characteristic {
                        uuid: STATE,
                        // 0x01 start / 0x02 end; the session itself carries everything else.
                        write: Some(CharacteristicWrite {
                            write_without_response: true,
                            method: CharacteristicWriteMethod::Fun(Box::new(|_value, _req| {
                                async { Ok(()) }.boxed()
                            })),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Characteristic {
                        uuid: CLIENT_TO_SERVER,
                        write: Some(CharacteristicWrite {
                            write_without_response: true,
                            method: CharacteristicWriteMethod::Io,
                            ..Default::default()
                        }),
                        control_handle: c2s_handle,
                        ..Default::default()
                    },
                    Characteristic {
                        uuid: SERVER_TO_CLIENT,
                        notify: Some(CharacteristicNotify {
                            notify: true,
                            method: CharacteristicNotifyMethod::Io,
                            ..Default::default()
                        }),
                        control_handle: s2c_handle,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let app = adapter.serve_gatt_application(app).await.map_err(io)?;
        futures::pin_mut!(c2s_control);
        futures::pin_mut!(s2c_control);
        let mut reader = None;
        let mut writer = None;
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        while reader.is_none() || writer.is_none() {
            tokio::select! {
                Some(CharacteristicControlEvent::Write(req)) = c2s_control.next() => reader = Some(req.accept().map_err(io)?),
                Some(CharacteristicControlEvent::Notify(n)) = s2c_control.next() => writer = Some(n),
                _ = &mut deadline => return Err(io("no gate connected in time")),
            }
        }
        Ok::<_, WalletError>((
            reader.expect("set"),
            writer.expect("set"),
            Role::Server(adv, app),
        ))
    })
}
